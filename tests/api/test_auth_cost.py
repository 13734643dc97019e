"""What checking credentials costs, and where it runs.

The attack: each junk bearer token was hashed with 200k-iteration PBKDF2 against every
stored token, on the event loop, so ~15 junk requests a second stalled /healthz for
seconds; and Basic auth answered an unknown user 50 times faster than a known one.
These tests count hash calls and iterations and look at which thread hashes, never at
the clock.
"""

from __future__ import annotations

import os
import re
import threading

import pytest
from fastapi.testclient import TestClient

import moroccron.auth as auth_module
from moroccron.api.app import create_app
from moroccron.api.deps import AppContext
from moroccron.auth import (
    ITERATIONS,
    AuthBusy,
    Authenticator,
    _Credential,
    hash_secret,
    hash_token,
    verify_secret,
)
from moroccron.config import Settings
from moroccron.errors import ValidationError
from moroccron.hooks.manager import PluginManager
from tests.e2e.harness import wait_for

FAST = "f" * 40  # a high-entropy token, stored as sha256$
LEGACY = "legacy-token-value"  # stored as pbkdf2_sha256$ (the old form)


class Hashes:
    """Wraps moroccron.auth._pbkdf2: records the iterations and thread of every slow hash."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[int, str]] = []
        self.nice: list[int] = []  # the CPU priority of the thread of each call
        self.gate: threading.Event | None = None  # when set, each hash waits for it
        self.entered = threading.Event()
        real = auth_module._pbkdf2

        def counted(secret: str, salt: str, iterations: int) -> str:
            self.calls.append((iterations, threading.current_thread().name))
            self.nice.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
            self.entered.set()
            if self.gate is not None:
                assert self.gate.wait(120), "test gate never opened"
            return real(secret, salt, iterations)

        monkeypatch.setattr(auth_module, "_pbkdf2", counted)

    def iterations(self) -> list[int]:
        return [i for i, _ in self.calls]


@pytest.fixture
def hashes(monkeypatch):
    return Hashes(monkeypatch)


def test_stored_forms():
    assert verify_secret(FAST, hash_token(FAST)) and not verify_secret(FAST + "x", hash_token(FAST))
    assert verify_secret(FAST, hash_token(FAST).upper().replace("SHA256$", "sha256$"))
    stored = hash_secret("pw", iterations=1000)
    assert stored.startswith("pbkdf2_sha256$1000$") and verify_secret("pw", stored)


def test_an_unknown_token_costs_one_sha256_however_many_tokens_there_are(hashes, monkeypatch):
    digests: list[str] = []
    real = auth_module._digest
    monkeypatch.setattr(auth_module, "_digest", lambda text: (digests.append(text), real(text))[1])
    for n in (10, 1000):
        tokens = [_Credential(f"t{i}", hash_token(f"{i:040d}"), "read") for i in range(n)]
        auth = Authenticator(tokens)
        digests.clear()
        assert auth.authenticate("Bearer junk-token-from-an-attacker") is None
        assert digests == ["junk-token-from-an-attacker"], f"one digest with {n} tokens, no scan"
        assert auth.authenticate(f"Bearer {7:040d}").name == "t7"
    assert hashes.calls == [], "no slow hash for any token in the fast form"


def test_clear_text_tokens_are_hashed_at_load_and_found_the_same_way(hashes):
    auth = Authenticator.from_sources(None, environ={"MOROCCRON_AUTH_TOKENS": f"plain-token:read,{FAST}:write"})
    assert auth.authenticate("Bearer plain-token").role == "read"
    assert auth.authenticate(f"Bearer {FAST}").role == "write"
    assert auth.authenticate("Bearer nope") is None
    assert all(t not in str(auth._token_by_digest) for t in ("plain-token", FAST)), "only digests are kept"
    assert hashes.calls == []


def test_an_old_pbkdf2_token_still_works_and_is_then_found_by_its_digest(hashes):
    auth = Authenticator(
        [
            _Credential("old", hash_secret(LEGACY, iterations=2000), "write"),
            _Credential("new", hash_token(FAST), "read"),
        ]
    )
    hashes.calls.clear()
    assert auth.slow_tokens == ["old"]
    assert auth.authenticate(f"Bearer {FAST}").name == "new" and hashes.calls == [], "fast tokens stay fast"
    assert auth.authenticate(f"Bearer {LEGACY}").name == "old"
    assert hashes.iterations() == [2000]
    assert auth.authenticate(f"Bearer {LEGACY}").name == "old"
    assert hashes.iterations() == [2000], "learnt: the second use costs no slow hash"
    assert auth.authenticate("Bearer junk") is None
    assert hashes.iterations() == [2000, 2000], "an unknown token is checked against each old entry"


def test_the_start_warns_about_old_token_hashes_and_clear_text(tmp_path, caplog):
    path = tmp_path / "auth.toml"
    path.write_text(
        f'[[tokens]]\nname = "old"\ntoken = "{hash_secret(LEGACY, iterations=1000)}"\nrole = "read"\n'
        f'[[tokens]]\nname = "clear"\ntoken = "{FAST}"\nrole = "read"\n'
        f'[[tokens]]\nname = "fast"\ntoken = "{hash_token(FAST + "2")}"\nrole = "read"\n'
    )
    with caplog.at_level("WARNING", logger="moroccron.auth"):
        Authenticator.from_sources(path, environ={})
    text = caplog.text
    assert "'old' is stored as pbkdf2_sha256" in text and "auth hash --token" in text
    assert "'clear' is stored in clear text" in text
    assert "'fast'" not in text


@pytest.mark.parametrize(
    ("kind", "entry", "message"),
    [
        ("users", 'password = "sha256$' + "0" * 64 + '"', "a password needs a slow hash"),
        ("tokens", 'token = "sha256$xyz"', "is not a sha256 hash"),
        ("tokens", 'token = "pbkdf2_sha256$999999999999$salt$00"', "is not a usable pbkdf2_sha256 hash"),
        ("users", 'password = "pbkdf2_sha256$notanumber$salt$00"', "is not a usable pbkdf2_sha256 hash"),
    ],
)
def test_unusable_stored_forms_are_refused_at_start(tmp_path, kind, entry, message):
    path = tmp_path / "auth.toml"
    path.write_text(f'[[{kind}]]\nname = "x"\n{entry}\nrole = "read"\n')
    with pytest.raises(ValidationError) as info:
        Authenticator.from_sources(path, environ={})
    assert message in str(info.value) and f"{kind}[0]" in info.value.errors[0].field


def basic(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_auth_does_the_same_hashing_for_unknown_and_known_users(hashes):
    """Known user, wrong password; known user, right password; unknown user: one PBKDF2 of the
    same iteration count each, so the answer time says nothing about which names exist."""
    auth = Authenticator.from_sources(None, environ={"MOROCCRON_AUTH_USERS": "boss:s3cret:admin"})
    hashes.calls.clear()  # the clear-text password was hashed at load
    cases = {
        "known, wrong password": basic("boss", "nope"),
        "unknown user": basic("nobody", "nope"),
        "known, right password": basic("boss", "s3cret"),
    }
    spent = {}
    for label, header in cases.items():
        before = len(hashes.calls)
        auth.authenticate(header)
        spent[label] = hashes.iterations()[before:]
    assert spent == {label: [ITERATIONS] for label in cases}, spent
    before = len(hashes.calls)
    assert auth.authenticate(basic("boss", "s3cret")).role == "admin"
    assert len(hashes.calls) == before, "a good answer is remembered"


def test_the_dummy_hash_costs_what_the_costliest_user_hash_costs(hashes):
    users = [
        _Credential("cheap", hash_secret("a", iterations=1000), "read"),
        _Credential("dear", hash_secret("b", iterations=3000), "read"),
    ]
    auth = Authenticator(users=users)
    hashes.calls.clear()
    auth.authenticate(basic("nobody", "x"))
    auth.check_user("nobody", "x")
    assert hashes.iterations() == [3000, 3000]


def test_the_login_form_does_the_same_hashing_for_users_token_names_and_nobody(hashes):
    auth = Authenticator(
        [_Credential("ci", hash_token(FAST), "write")], [_Credential("boss", hash_secret("s3cret"), "admin")]
    )
    hashes.calls.clear()
    spent = []
    for name, password in (("boss", "nope"), ("boss", "s3cret"), ("ci", "nope"), ("ci", FAST), ("nobody", "x")):
        before = len(hashes.calls)
        auth.check_user(name, password)
        spent.append(hashes.iterations()[before:])
    assert spent == [[ITERATIONS]] * 5
    assert auth.check_user("ci", FAST).role == "write" and auth.check_user("boss", "s3cret").via == "session"


def test_the_cache_of_good_answers_is_bounded(monkeypatch):
    monkeypatch.setattr(auth_module, "CACHE_SIZE", 3)
    auth = Authenticator(users=[_Credential(f"u{i}", hash_secret("pw", iterations=1000), "read") for i in range(6)])
    for i in range(6):
        assert auth.authenticate(basic(f"u{i}", "pw")) is not None
    assert len(auth._cache) == 3


# --------------------------------------------------------------------------- through the app


@pytest.fixture
def slow_app(sqlite_store):
    """An app whose authenticator has an old pbkdf2 token, so every unknown token needs a slow hash."""
    auth = Authenticator(
        [
            _Credential("old", hash_secret(LEGACY, iterations=1000), "write"),
            _Credential("ci", hash_token(FAST), "read"),
        ],
        hash_workers=1,
        hash_queue=2,
    )
    settings = Settings(auth_max_failures=0)  # these tests are about hashing, not the rate limit
    yield create_app(AppContext(settings, sqlite_store, PluginManager(load_entrypoints=False), auth=auth))
    auth.close()


@pytest.mark.parametrize("kind", ["bearer", "basic", "login"])
def test_slow_hashes_run_off_the_event_loop(slow_app, hashes, kind):
    """While a junk credential's slow hash is stuck, /healthz and a fast-token request still
    answer: the hash runs in the authenticator's own worker thread, not on the loop. For a
    junk bearer token (the old pbkdf2 token), an unknown Basic user and the login form."""
    hashes.gate = threading.Event()
    results: dict[str, int] = {}
    with TestClient(slow_app) as client:
        if kind == "login":
            csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)

            def junk_request() -> int:
                return client.post("/login", data={"user": "nobody", "password": "x", "csrf": csrf}).status_code
        else:
            header = "Bearer junk" if kind == "bearer" else basic("nobody", "guess")

            def junk_request() -> int:
                return client.get("/api/v1/jobs", headers={"Authorization": header}).status_code

        junk = threading.Thread(target=lambda: results.setdefault("junk", junk_request()))
        junk.start()
        try:
            assert hashes.entered.wait(60), "the junk credential's hash started"
            assert client.get("/healthz").status_code == 200
            assert client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {FAST}"}).status_code == 200
            assert "junk" not in results, "the junk request is still waiting for its hash"
        finally:
            hashes.gate.set()
            junk.join(60)
    assert results == {"junk": 401}
    assert [name for _, name in hashes.calls] and all(name.startswith("moroccron-auth") for _, name in hashes.calls), (
        hashes.calls
    )
    assert set(hashes.nice) == {auth_module.NICE}, "hashing yields the CPU to serving requests"


def test_slow_checks_waiting_are_bounded(slow_app, hashes):
    """hash_queue=2: with two junk checks running or waiting, a third is answered 503 at once."""
    hashes.gate = threading.Event()
    codes: list[int] = []
    with TestClient(slow_app) as client:

        def junk() -> None:
            codes.append(client.get("/api/v1/jobs", headers={"Authorization": "Bearer junk"}).status_code)

        threads = [threading.Thread(target=junk) for _ in range(2)]
        for t in threads:
            t.start()
        try:
            auth = slow_app.state.context.auth
            wait_for(lambda: auth._pending == 2, 60, what="two checks in flight")
            r = client.get("/api/v1/jobs", headers={"Authorization": "Bearer more-junk"})
            assert r.status_code == 503 and r.headers["retry-after"] == "1"
            assert "too many credential checks" in r.json()["error"]
            assert client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {FAST}"}).status_code == 200
        finally:
            hashes.gate.set()
            for t in threads:
                t.join(60)
    assert sorted(codes) == [401, 401]
    assert slow_app.state.context.auth._pending == 0


def test_authenticate_async_raises_busy_beyond_the_queue():
    import asyncio

    auth = Authenticator([_Credential("old", hash_secret(LEGACY, iterations=1000), "write")], hash_queue=0)
    with pytest.raises(AuthBusy):
        asyncio.run(auth.authenticate_async("Bearer junk"))
    assert (
        asyncio.run(
            Authenticator([_Credential("t", hash_token(FAST), "read")], hash_queue=0).authenticate_async(
                f"Bearer {FAST}"
            )
        ).name
        == "t"
    ), "the fast path never queues"


def test_cli_makes_fast_token_hashes(capsys):
    from moroccron.cli import main

    assert main(["auth", "hash", "--token", "short"]) == 1
    assert "at least 20 characters" in capsys.readouterr().err
    assert main(["auth", "hash", "--token", FAST]) == 0
    assert capsys.readouterr().out.strip() == hash_token(FAST)
    assert main(["auth", "token"]) == 0
    lines = dict(line.split(":", 1) for line in capsys.readouterr().out.strip().splitlines())
    token, stored = lines["token"].strip(), lines["stored"].strip()
    assert len(token) >= 40 and stored.startswith("sha256$") and verify_secret(token, stored)
    assert Authenticator([_Credential("new", stored, "read")]).authenticate(f"Bearer {token}").name == "new"
