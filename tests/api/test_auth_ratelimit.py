"""Failed sign-in attempts are limited per client address: bearer tokens, HTTP Basic, the login form.

The attack: nothing limited guessing, so a client could try passwords (or flood junk
tokens) as fast as the server answered. Now, after ``auth_max_failures`` failures an
address gets 429 with ``Retry-After`` before any credential is checked, other addresses
are unaffected, and the allowance comes back with time (a fake clock here).
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

import moroccron.auth as auth_module
from moroccron.api.app import create_app
from moroccron.api.deps import AppContext
from moroccron.api.ratelimit import FailureLimiter, client_address, parse_networks
from moroccron.auth import Authenticator, _Credential, hash_secret, hash_token
from moroccron.config import Settings, load_settings
from moroccron.errors import ValidationError
from moroccron.hooks.manager import PluginManager

TOKEN = "t" * 40


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def app(sqlite_store):
    auth = Authenticator(
        [_Credential("ci", hash_token(TOKEN), "write")],
        [_Credential("boss", hash_secret("s3cret", iterations=1000), "admin")],
    )
    settings = Settings(auth_max_failures=3, auth_failure_window_seconds=60.0, trusted_proxies=("10.9.0.0/16",))
    app = create_app(AppContext(settings, sqlite_store, PluginManager(load_entrypoints=False), auth=auth))
    app.state.auth_limiter.clock = Clock()
    return app


def client_from(app, address: str) -> TestClient:
    return TestClient(app, client=(address, 40000))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_bucket():
    clock = Clock()
    limiter = FailureLimiter(3, 60.0, clock=clock)
    for _ in range(3):
        assert limiter.retry_after("a") == 0
        limiter.failed("a")
    assert limiter.retry_after("a") == 20, "one attempt back every 60/3 seconds"
    assert limiter.retry_after("b") == 0
    clock.now += 19
    assert limiter.retry_after("a") == 1
    clock.now += 1
    assert limiter.retry_after("a") == 0
    limiter.failed("a")
    assert limiter.retry_after("a") == 20
    clock.now += 3600
    assert limiter.retry_after("a") == 0, "never more than the burst comes back"
    limiter.failed("a")
    limiter.failed("a")
    limiter.failed("a")
    assert limiter.retry_after("a") > 0


def test_the_table_of_addresses_is_bounded():
    limiter = FailureLimiter(1, 60.0, clock=Clock(), max_clients=100)
    for i in range(1000):
        limiter.failed(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter._buckets) == 100
    assert limiter.retry_after("10.0.3.231") > 0, "the newest addresses are kept"


def test_no_limit_when_switched_off():
    limiter = FailureLimiter(0, 60.0)
    for _ in range(100):
        limiter.failed("a")
    assert limiter.retry_after("a") == 0


def test_bad_tokens_get_429_then_recover_and_other_addresses_are_unaffected(app, monkeypatch):
    attacker, other = client_from(app, "192.0.2.1"), client_from(app, "192.0.2.2")
    for i in range(3):
        assert attacker.get("/api/v1/jobs", headers=bearer(f"guess-{i}")).status_code == 401
    r = attacker.get("/api/v1/jobs", headers=bearer("guess-4"))
    assert r.status_code == 429 and r.headers["retry-after"] == "20"
    assert "too many failed sign-in attempts from 192.0.2.1" in r.json()["error"]
    # refused before any check: even the right token, and no hash is computed for it
    digests = []
    monkeypatch.setattr(auth_module, "_digest", lambda text: digests.append(text) or b"")
    assert attacker.get("/api/v1/jobs", headers=bearer(TOKEN)).status_code == 429
    assert digests == []
    monkeypatch.undo()
    assert other.get("/api/v1/jobs", headers=bearer(TOKEN)).status_code == 200
    assert other.get("/healthz").status_code == 200
    assert attacker.get("/healthz").status_code == 200, "public paths need no allowance"
    app.state.auth_limiter.clock.now += 20
    assert attacker.get("/api/v1/jobs", headers=bearer(TOKEN)).status_code == 200, "recovered"
    assert attacker.get("/api/v1/jobs", headers=bearer("guess-5")).status_code == 401
    assert attacker.get("/api/v1/jobs", headers=bearer(TOKEN)).status_code == 429


def test_basic_guesses_are_limited_without_hashing(app, monkeypatch):
    attacker = client_from(app, "192.0.2.7")
    for _ in range(3):
        assert attacker.get("/api/v1/jobs", auth=("boss", "wrong")).status_code == 401
    hashed = []
    real = auth_module._pbkdf2
    monkeypatch.setattr(auth_module, "_pbkdf2", lambda *a: hashed.append(a) or real(*a))
    r = attacker.get("/api/v1/jobs", auth=("boss", "s3cret"))
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert hashed == [], "a refused guess costs no hash"
    assert client_from(app, "192.0.2.8").get("/api/v1/jobs", auth=("boss", "s3cret")).status_code == 200


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_the_login_form_is_limited_too(app):
    attacker = client_from(app, "192.0.2.9")
    csrf = csrf_of(attacker.get("/login").text)
    for _ in range(3):
        r = attacker.post("/login", data={"user": "boss", "password": "wrong", "csrf": csrf})
        assert r.status_code == 401
    r = attacker.post("/login", data={"user": "boss", "password": "s3cret", "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert "too many failed attempts" in r.text and "moroccron_session" not in r.headers.get("set-cookie", "")
    # the API's failures and the form's are one count per address
    assert attacker.get("/api/v1/jobs", headers=bearer(TOKEN)).status_code == 429
    friend = client_from(app, "192.0.2.10")
    r = friend.post(
        "/login",
        data={"user": "boss", "password": "s3cret", "csrf": csrf_of(friend.get("/login").text)},
        follow_redirects=False,
    )
    assert r.status_code == 303


def test_forwarded_for_is_believed_only_from_trusted_proxies(app):
    # Not a trusted proxy: the header is the client's own invention and changes nothing.
    direct = client_from(app, "192.0.2.20")
    for i in range(4):
        r = direct.get("/api/v1/jobs", headers={**bearer("junk"), "X-Forwarded-For": f"198.51.100.{i}"})
    assert r.status_code == 429
    # Behind the trusted proxy (10.9.0.0/16), each forwarded client has its own allowance.
    proxy = client_from(app, "10.9.0.5")
    for _ in range(3):
        proxy.get("/api/v1/jobs", headers={**bearer("junk"), "X-Forwarded-For": "198.51.100.50"})
    blocked = proxy.get("/api/v1/jobs", headers={**bearer(TOKEN), "X-Forwarded-For": "198.51.100.50"})
    assert blocked.status_code == 429 and "198.51.100.50" in blocked.json()["error"]
    assert proxy.get("/api/v1/jobs", headers={**bearer(TOKEN), "X-Forwarded-For": "198.51.100.51"}).status_code == 200
    # A client cannot escape by writing its own X-Forwarded-For entry left of the proxy's.
    spoofed = proxy.get("/api/v1/jobs", headers={**bearer(TOKEN), "X-Forwarded-For": "203.0.113.1, 198.51.100.50"})
    assert spoofed.status_code == 429


@pytest.mark.parametrize(
    ("peer", "header", "expected"),
    [
        ("192.0.2.1", "1.2.3.4", "192.0.2.1"),
        ("10.9.0.5", "1.2.3.4", "1.2.3.4"),
        ("10.9.0.5", "1.2.3.4, 10.9.0.7", "1.2.3.4"),
        ("10.9.0.5", "6.6.6.6, 1.2.3.4, 10.9.0.7", "1.2.3.4"),
        ("10.9.0.5", "not-an-address", "10.9.0.5"),
        ("10.9.0.5", None, "10.9.0.5"),
    ],
)
def test_client_address(peer, header, expected):
    scope = {"client": (peer, 1), "headers": [(b"x-forwarded-for", header.encode())] if header else []}
    assert client_address(scope, parse_networks(["10.9.0.0/16"])) == expected


def test_settings_check_trusted_proxies_and_limits():
    s = load_settings(
        environ={"MOROCCRON_TRUSTED_PROXIES": "10.0.0.1, 10.1.0.0/16", "MOROCCRON_AUTH_MAX_FAILURES": "5"}
    )
    assert s.trusted_proxies == ("10.0.0.1", "10.1.0.0/16") and s.auth_max_failures == 5
    assert Settings().auth_max_failures == 10 and Settings().auth_failure_window_seconds == 60.0
    with pytest.raises(ValidationError) as info:
        load_settings(environ={"MOROCCRON_TRUSTED_PROXIES": "10.0.0.1, proxy.example.com"})
    assert info.value.errors[0].field == "trusted_proxies" and "proxy.example.com" in str(info.value)
    with pytest.raises(ValidationError) as info:
        load_settings(environ={"MOROCCRON_AUTH_MAX_FAILURES": "-1"})
    assert "MOROCCRON_AUTH_MAX_FAILURES" in info.value.errors[0].field
