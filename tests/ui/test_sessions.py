"""UI sessions can be revoked on the server, on SQLite and PostgreSQL.

The attacks: with a shared ``session_secret``, a user removed from the auth config kept
their role for 12 hours through an old cookie; logging out only deleted the cookie in
the browser, so a copied cookie still worked; a read-only user could not log out at all
(403). Each test below replays an old cookie and shows it refused.
"""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from moroccron.api.app import create_app
from moroccron.api.deps import AppContext
from moroccron.auth import Authenticator, Principal, _Credential, hash_secret
from moroccron.config import Settings
from moroccron.hooks.manager import PluginManager
from moroccron.store.sessions import end_sessions, session_version, start_session, sync_principals
from moroccron.ui.session import SESSION_COOKIE, Sessions

SECRET = "shared-by-every-instance"
BOTH = {"boss": ("s3cret", "admin"), "viewer": ("look", "read")}


def authenticator(users: dict[str, tuple[str, str]]) -> Authenticator:
    return Authenticator(
        users=[_Credential(name, hash_secret(pw, iterations=1000), role) for name, (pw, role) in users.items()]
    )


def instance(store, users: dict[str, tuple[str, str]], **settings) -> TestClient:
    """One moroccron instance: its own auth config, the shared secret and database."""
    ctx = AppContext(
        Settings(session_secret=SECRET, **settings),
        store,
        PluginManager(load_entrypoints=False),
        auth=authenticator(users),
    )
    return TestClient(create_app(ctx))


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def login(client: TestClient, user: str, password: str):
    page = client.get("/login")
    return client.post(
        "/login",
        data={"user": user, "password": password, "next": "/jobs", "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )


def logged_in(client: TestClient) -> bool:
    r = client.get("/jobs", follow_redirects=False)
    assert r.status_code in (200, 303), r.status_code
    return r.status_code == 200


def replay(client: TestClient, cookie: str) -> TestClient:
    client.cookies.set(SESSION_COOKIE, cookie)
    return client


def test_a_removed_users_old_cookie_is_refused(store):
    first = instance(store, BOTH)
    assert login(first, "boss", "s3cret").status_code == 303
    cookie = first.cookies.get(SESSION_COOKIE)
    assert logged_in(first)
    # An instance whose config no longer has boss refuses the cookie at once, before any bump.
    second = replay(instance(store, {"viewer": BOTH["viewer"]}), cookie)
    assert not logged_in(second)
    assert second.get("/api/v1/jobs").status_code == 401
    # Its start records the removal in the shared database: revoked everywhere, even on
    # an instance whose config still has boss, and after boss is added back.
    assert sync_principals(store, {"viewer": "read"}) == ["boss"]
    assert not logged_in(first)
    readded = replay(instance(store, BOTH), cookie)
    assert sync_principals(store, {"boss": "admin", "viewer": "read"}) == ["boss"]
    assert not logged_in(readded)
    assert login(readded, "boss", "s3cret").status_code == 303 and logged_in(readded), "a new login works"


def test_a_role_change_refuses_the_old_cookie(store):
    first = instance(store, BOTH)
    login(first, "viewer", "look")
    cookie = first.cookies.get(SESSION_COOKIE)
    promoted = {**BOTH, "viewer": ("look", "write")}
    second = replay(instance(store, promoted), cookie)
    assert not logged_in(second), "the cookie says read; the config says write: log in again"
    assert sync_principals(store, {"boss": "admin", "viewer": "write"}) == ["viewer"]
    assert not logged_in(first), "revoked in the database for every instance"
    assert sync_principals(store, {"boss": "admin", "viewer": "write"}) == [], "nothing changed since"
    assert login(second, "viewer", "look").status_code == 303 and logged_in(second)
    assert second.get("/api/v1/jobs").status_code == 200


def test_logout_revokes_the_session_on_the_server(store):
    admin = instance(store, BOTH)
    login(admin, "boss", "s3cret")
    cookie = admin.cookies.get(SESSION_COOKIE)
    elsewhere = replay(instance(store, BOTH), cookie)  # the same cookie, used from another instance
    other_browser = instance(store, BOTH)
    login(other_browser, "boss", "s3cret")
    assert logged_in(elsewhere) and logged_in(other_browser)
    page = admin.get("/jobs").text
    r = admin.post("/logout", data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert not logged_in(replay(admin, cookie)), "the old cookie, replayed after logout, is no session"
    assert not logged_in(elsewhere), "on every instance"
    assert replay(admin, cookie).get("/api/v1/jobs").status_code == 401
    assert not logged_in(other_browser), "logging out ends every session of that user"


def test_a_reader_can_log_out(store):
    reader = instance(store, BOTH)
    login(reader, "viewer", "look")
    cookie = reader.cookies.get(SESSION_COOKIE)
    page = reader.get("/jobs").text
    assert 'action="/logout"' in page
    r = reader.post("/logout", data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert r.status_code == 303, "not 403"
    assert not logged_in(replay(reader, cookie))
    # logout still wants its CSRF token (a page of another site cannot log people out)
    again = instance(store, BOTH)
    login(again, "viewer", "look")
    assert again.post("/logout", data={"csrf": "forged"}).status_code == 403
    assert logged_in(again)


def test_logging_out_with_a_dead_session_just_clears_the_cookie(store):
    client = instance(store, BOTH)
    login(client, "viewer", "look")
    page = client.get("/jobs").text
    end_sessions(store, "viewer")  # revoked meanwhile
    r = client.post("/logout", data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert r.status_code == 303 and SESSION_COOKIE in r.headers["set-cookie"]


def test_cookies_are_secure_when_configured(store):
    plain = instance(store, BOTH)
    page = plain.get("/login")
    assert "secure" not in page.headers["set-cookie"].lower()
    r = login(plain, "boss", "s3cret")
    assert "httponly" in r.headers["set-cookie"].lower() and "secure" not in r.headers["set-cookie"].lower()

    secure = instance(store, BOTH, session_cookie_secure=True)
    page = secure.get("/login")
    csrf_cookie = page.headers["set-cookie"]
    assert csrf_cookie.startswith("moroccron_csrf=") and "; secure" in csrf_cookie.lower()
    secure.cookies.set("moroccron_csrf", page.cookies["moroccron_csrf"])  # http://testserver keeps no Secure cookie
    r = secure.post(
        "/login", data={"user": "boss", "password": "s3cret", "csrf": csrf_of(page.text)}, follow_redirects=False
    )
    session_cookie = r.headers["set-cookie"]
    assert r.status_code == 303 and session_cookie.startswith(f"{SESSION_COOKIE}=")
    assert "; secure" in session_cookie.lower() and "httponly" in session_cookie.lower()
    assert "samesite=lax" in session_cookie.lower()


def test_a_cookie_without_a_version_is_no_session(store):
    """Cookies signed before session versions existed: log in again."""
    import base64
    import json
    import time

    sessions = Sessions(SECRET)
    payload = (
        base64.urlsafe_b64encode(json.dumps({"n": "boss", "r": "admin", "e": int(time.time()) + 600}).encode())
        .decode()
        .rstrip("=")
    )
    old = f"{payload}.{sessions._sign(payload)}"
    assert sessions.signed(old) is None
    assert not logged_in(replay(instance(store, BOTH), old))


def test_the_session_version_store(store):
    assert session_version(store, "boss") == 0
    assert start_session(store, "boss", "admin") == 0
    assert end_sessions(store, "boss") == 1
    assert start_session(store, "boss", "admin") == 1, "a new session gets the current version"
    assert end_sessions(store, "boss") == 2 and session_version(store, "boss") == 2
    assert end_sessions(store, "never-logged-in") == 1
    assert sync_principals(store, {"boss": "admin", "ci": "write"}) == [], "nothing removed, no role changed"
    assert session_version(store, "ci") == 0 and session_version(store, "never-logged-in") == 1
    assert sync_principals(store, {"boss": "read", "ci": "write"}) == ["boss"]
    assert session_version(store, "boss") == 3
    assert sync_principals(store, {}) == ["boss", "ci"]
    assert sync_principals(store, {}) == [], "a removed principal is revoked once"


def test_sessions_check_signature_config_and_version(store):
    auth = authenticator(BOTH)
    sessions = Sessions(SECRET, auth=auth, store=store)
    cookie = sessions.start(Principal("boss", "admin", "session"))
    assert sessions.principal(cookie) == Principal("boss", "admin", "session")
    assert Sessions("another secret", auth=auth, store=store).principal(cookie) is None
    assert Sessions(SECRET, auth=authenticator({"viewer": BOTH["viewer"]}), store=store).principal(cookie) is None
    assert sessions.end(cookie) == Principal("boss", "admin", "session")
    assert sessions.principal(cookie) is None and sessions.end(cookie) is None
