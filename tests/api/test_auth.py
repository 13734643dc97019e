"""Tokens, Basic auth and roles on every route; loopback-only without auth."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from moroccron.api.app import create_app
from moroccron.api.deps import AppContext
from moroccron.auth import Authenticator, hash_secret, verify_secret
from moroccron.config import Settings
from moroccron.errors import ValidationError
from moroccron.hooks.manager import PluginManager


@pytest.fixture
def auth(tmp_path):
    path = tmp_path / "auth.toml"
    path.write_text(f"""
[[tokens]]
name = "ci"
token = "{hash_secret("tok-write")}"
role = "write"

[[tokens]]
name = "viewer"
token = "tok-read"
role = "read"

[[users]]
name = "boss"
password = "{hash_secret("s3cret")}"
role = "admin"
""")
    return Authenticator.from_sources(path, environ={"MOROCCRON_AUTH_USERS": "chronos:pw:with:colons:write"})


@pytest.fixture
def client(store, auth):
    app = create_app(AppContext(Settings(), store, PluginManager(load_entrypoints=False), auth=auth))
    return TestClient(app)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


JOB = {"name": "a", "command": "true"}


def test_hashing():
    stored = hash_secret("x")
    assert stored.startswith("pbkdf2_sha256$") and verify_secret("x", stored) and not verify_secret("y", stored)


def test_roles_on_native_routes(client):
    assert client.get("/healthz").status_code == 200
    r = client.get("/api/v1/jobs")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
    assert client.get("/api/v1/jobs", headers=bearer("wrong")).status_code == 401
    assert client.get("/api/v1/jobs", headers=bearer("tok-read")).status_code == 200
    r = client.post("/api/v1/jobs", json=JOB, headers=bearer("tok-read"))
    assert r.status_code == 403 and "needs 'write'" in r.json()["error"]
    assert client.post("/api/v1/jobs", json=JOB, headers=bearer("tok-write")).status_code == 201
    assert client.put("/api/v1/owners/o@x", json={}, headers=bearer("tok-write")).status_code == 403
    assert client.put("/api/v1/owners/o@x", json={}, auth=("boss", "s3cret")).status_code == 201
    assert client.put("/api/v1/owners/o@x", json={}, auth=("boss", "nope")).status_code == 401
    assert client.get("/api/v1/jobs/a", auth=("chronos", "pw:with:colons")).status_code == 200


def test_bad_auth_file_is_a_clear_error(tmp_path):
    path = tmp_path / "auth.toml"
    path.write_text('[[users]]\nname = "x"\npassword = "y"\nrole = "god"\n')
    with pytest.raises(ValidationError) as info:
        Authenticator.from_sources(path, environ={})
    assert "users[0].role" in str(info.value) and "read | write | admin" in str(info.value)


def test_no_credentials_means_auth_off():
    assert not Authenticator.from_sources(None, environ={}).enabled


def test_serve_refuses_public_bind_without_auth():
    from moroccron.service import check_exposure

    off = Authenticator.from_sources(None, environ={})
    with pytest.raises(ValidationError) as info:
        check_exposure(Settings(bind="0.0.0.0:4400"), off)
    assert info.value.errors[0].field == "bind" and "--insecure" in str(info.value)
    check_exposure(Settings(bind="0.0.0.0:4400", insecure=True), off)
    check_exposure(Settings(bind="127.0.0.1:4400"), off)
    check_exposure(
        Settings(bind="0.0.0.0:4400"), Authenticator.from_sources(None, environ={"MOROCCRON_AUTH_TOKENS": "t:read"})
    )


class _Standby:
    """Leadership as a standby sees it: someone else leads, at ``address``."""

    def __init__(self, address):
        self.address = address

    def leader(self):
        return {"address": self.address, "instance": "leader-1"}


def test_a_standby_proxies_authenticated_writes_and_redirects_anonymous_ones(store, auth):
    from tests.receivers import Receiver

    leader = Receiver(status=201, path="/api/v1/jobs", body=b'{"name": "a", "created": "by the leader"}')
    try:
        address = leader.url.split("/")[2]
        store.take_leadership("leader-1", address)  # the database agrees with ZooKeeper: a verified leader
        ctx = AppContext(
            Settings(), store, PluginManager(load_entrypoints=False), auth=auth, leadership=_Standby(address)
        )
        client = TestClient(create_app(ctx))
        r = client.post("/api/v1/jobs?dry=1", json=JOB, headers=bearer("tok-write"))
        assert r.status_code == 201 and r.json()["created"] == "by the leader"
        assert leader.paths == ["/api/v1/jobs?dry=1"] and leader.bodies == [JOB]
        sent = {k.lower(): v for k, v in leader.headers[0].items()}
        assert sent["authorization"] == "Bearer tok-write", "the credentials reach the leader"
        assert sent["x-moroccron-forwarded"] == "1"
        # the standby checks credentials itself first: a bad token never reaches the leader
        assert client.post("/api/v1/jobs", json=JOB, headers=bearer("nope")).status_code == 401
        assert client.post("/api/v1/jobs", json=JOB, headers=bearer("tok-read")).status_code == 403
        assert len(leader.bodies) == 1
        # a request already forwarded once is not sent on again (a stale leader address)
        r = client.post("/api/v1/jobs", json=JOB, headers={**bearer("tok-write"), "X-Moroccron-Forwarded": "1"})
        assert r.status_code == 503
    finally:
        leader.close()
    # the leader is gone: a clear 502, not a hang
    r = client.post("/api/v1/jobs", json=JOB, headers=bearer("tok-write"))
    assert r.status_code == 502 and "did not answer" in r.json()["error"]
