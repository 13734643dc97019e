"""UI sessions and CSRF protection.

Login takes the same credentials as the API (a user's password, or a token) and gives
a session cookie: the principal's name, role, session version and expiry, signed with
HMAC-SHA256. The key is ``session_secret`` when set (give every instance the same one,
so that a session made on one instance holds on the others behind a load balancer);
otherwise a random key per process, which logs everyone out when it restarts.

A valid signature is not enough. On every request the session must also match the
server's view (see :mod:`moroccron.store.sessions`):

- the principal is still in this instance's auth config, with the same role: a user
  removed from the config, or whose role changed, is refused at once;
- its session version in the shared database is still the one in the cookie: logging
  out bumps it (ending every session of that principal, on every instance), and so does
  a start that finds the principal removed or its role changed.

Every form carries a CSRF token: an HMAC of a random per-browser cookie and the
session, so a page of another site can neither read nor forge it. The cookies are
HttpOnly, SameSite=Lax, and Secure when ``session_cookie_secure`` is set.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from http.cookies import SimpleCookie
from typing import Any

import anyio

from moroccron.auth import Principal
from moroccron.store.sessions import end_sessions, session_version, start_session

__all__ = ["CSRF_COOKIE", "SESSION_COOKIE", "Sessions"]

SESSION_COOKIE = "moroccron_session"
CSRF_COOKIE = "moroccron_csrf"
SESSION_SECONDS = 12 * 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def cookies_of(scope: Mapping[str, Any]) -> dict[str, str]:
    for key, value in scope.get("headers") or ():
        if key.lower() == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header: treat as none
                return {}
            return {k: m.value for k, m in jar.items()}
    return {}


class Sessions:
    """Issues and checks session cookies.

    ``auth`` (an :class:`~moroccron.auth.Authenticator`) and ``store`` are the server's
    view a session must still match; without them only the signature and expiry count.
    """

    def __init__(self, secret: str | None = None, *, auth: Any = None, store: Any = None, secure: bool = False) -> None:
        self.key = (secret or secrets.token_hex(32)).encode()
        self.auth = auth if auth is not None and auth.enabled else None
        self.store = store if self.auth is not None else None
        self.secure = secure

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self.key, payload.encode(), hashlib.sha256).digest())

    def issue(self, principal: Principal, version: int = 0, now: float | None = None) -> str:
        payload = _b64(
            json.dumps(
                {
                    "n": principal.name,
                    "r": principal.role,
                    "v": version,
                    "e": int((now or time.time()) + SESSION_SECONDS),
                }
            ).encode()
        )
        return f"{payload}.{self._sign(payload)}"

    def signed(self, cookie: str | None, now: float | None = None) -> dict[str, Any] | None:
        """The cookie's contents if it is signed by us and not expired (nothing else checked)."""
        if not cookie or "." not in cookie:
            return None
        payload, signature = cookie.rsplit(".", 1)
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("e"), int) or data["e"] < (now or time.time()):
            return None
        if (
            not isinstance(data.get("n"), str)
            or not isinstance(data.get("v"), int)
            or data.get("r") not in ("read", "write", "admin")
        ):
            return None  # a cookie from before session versions: log in again
        return data

    def principal(self, cookie: str | None, now: float | None = None) -> Principal | None:
        """The principal a session cookie stands for, or None if it is missing, forged, expired or revoked.

        Reads the database (the session version): call it from a worker thread.
        """
        data = self.signed(cookie, now)
        if data is None:
            return None
        if self.auth is not None and self.auth.role_of(data["n"]) != data["r"]:
            return None  # removed from the config, or another role now: refused before any bump
        if self.store is not None and session_version(self.store, data["n"]) != data["v"]:
            return None  # logged out, or revoked at a start
        return Principal(data["n"], data["r"], "session")

    def from_scope(self, scope: dict[str, Any]) -> Principal | None:
        return self.principal(cookies_of(scope).get(SESSION_COOKIE))

    async def from_scope_async(self, scope: dict[str, Any]) -> Principal | None:
        """:meth:`from_scope` for the event loop: the database is read in a worker thread."""
        cookie = cookies_of(scope).get(SESSION_COOKIE)
        if self.signed(cookie) is None:
            return None  # no cookie, or a forged one: no thread, no query
        if self.store is None:
            return self.principal(cookie)
        return await anyio.to_thread.run_sync(self.principal, cookie)

    def start(self, principal: Principal) -> str:
        """A new session cookie for ``principal`` (reads and may write the database: not on the loop)."""
        version = 0
        if self.store is not None:
            version = start_session(self.store, principal.name, principal.role)
        return self.issue(principal, version)

    def end(self, cookie: str | None) -> Principal | None:
        """Log out: revoke every session of the cookie's principal if the cookie is still good."""
        principal = self.principal(cookie)
        if principal is not None and self.store is not None:
            end_sessions(self.store, principal.name)
        return principal

    def cookie_options(self) -> dict[str, Any]:
        return {"httponly": True, "samesite": "lax", "secure": self.secure}

    def csrf_token(self, cookies: dict[str, str]) -> str:
        """The token forms must carry, bound to this browser's CSRF cookie and its session."""
        return self._sign(f"csrf|{cookies.get(CSRF_COOKIE, '')}|{cookies.get(SESSION_COOKIE, '')}")

    def csrf_ok(self, cookies: dict[str, str], token: str | None) -> bool:
        return (
            bool(token)
            and bool(cookies.get(CSRF_COOKIE))
            and hmac.compare_digest(token or "", self.csrf_token(cookies))
        )

    @staticmethod
    def new_csrf_cookie() -> str:
        return secrets.token_urlsafe(24)
