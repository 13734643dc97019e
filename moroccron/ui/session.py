"""UI sessions and CSRF protection.

Login takes the same credentials as the API (a user's password, or a token) and gives
a session cookie: the principal's name, role and expiry, signed with HMAC-SHA256.
The key is ``session_secret`` when set (give every instance the same one, so that a
session made on one instance holds on the others behind a load balancer); otherwise a
random key per process, which logs everyone out when it restarts.

Every form carries a CSRF token: an HMAC of a random per-browser cookie and the
session, so a page of another site can neither read nor forge it. The cookies are
HttpOnly and SameSite=Lax.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from http.cookies import SimpleCookie
from typing import Any

from moroccron.auth import Principal

__all__ = ["CSRF_COOKIE", "SESSION_COOKIE", "Sessions"]

SESSION_COOKIE = "moroccron_session"
CSRF_COOKIE = "moroccron_csrf"
SESSION_SECONDS = 12 * 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def cookies_of(scope: dict[str, Any]) -> dict[str, str]:
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
    def __init__(self, secret: str | None = None) -> None:
        self.key = (secret or secrets.token_hex(32)).encode()

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self.key, payload.encode(), hashlib.sha256).digest())

    def issue(self, principal: Principal, now: float | None = None) -> str:
        payload = _b64(json.dumps({"n": principal.name, "r": principal.role,
                                   "e": int((now or time.time()) + SESSION_SECONDS)}).encode())
        return f"{payload}.{self._sign(payload)}"

    def principal(self, cookie: str | None, now: float | None = None) -> Principal | None:
        """The principal a session cookie stands for, or None if it is missing, forged or expired."""
        if not cookie or "." not in cookie:
            return None
        payload, signature = cookie.rsplit(".", 1)
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
        except ValueError:
            return None
        if data.get("e", 0) < (now or time.time()):
            return None
        return Principal(data["n"], data["r"], "session")

    def from_scope(self, scope: dict[str, Any]) -> Principal | None:
        return self.principal(cookies_of(scope).get(SESSION_COOKIE))

    def csrf_token(self, cookies: dict[str, str]) -> str:
        """The token forms must carry, bound to this browser's CSRF cookie and its session."""
        return self._sign(f"csrf|{cookies.get(CSRF_COOKIE, '')}|{cookies.get(SESSION_COOKIE, '')}")

    def csrf_ok(self, cookies: dict[str, str], token: str | None) -> bool:
        return bool(token) and bool(cookies.get(CSRF_COOKIE)) and hmac.compare_digest(
            token or "", self.csrf_token(cookies))

    @staticmethod
    def new_csrf_cookie() -> str:
        return secrets.token_urlsafe(24)
