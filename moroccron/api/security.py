"""Authentication and roles for every HTTP route, as ASGI middleware.

A middleware rather than per-route dependencies so that no route, native or Chronos,
can be added without protection: reading needs ``read``, changing needs ``write``,
owners and plugin settings need ``admin``. ``/healthz``, ``/readyz``, the API documentation
and the login and logout forms are public (they hold no data; the forms check their own CSRF
token; probes carry no credentials).

Credentials are checked without blocking the event loop (slow hashes run in the
authenticator's worker threads, session versions are read in a worker thread), and
failed attempts are limited per client address (:mod:`moroccron.api.ratelimit`).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

from moroccron.api.ratelimit import FailureLimiter, Network, client_address
from moroccron.auth import AuthBusy, Authenticator, Principal

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/docs", "/openapi.json", "/redoc", "/login", "/logout"})
PUBLIC_PREFIXES = ("/ui/static/", "/docs/assets/")
MACHINE_PREFIXES = ("/api/", "/v1/", "/scheduler", "/leader", "/metrics", "/healthz", "/readyz")
"""Paths that machines call: they get 401 JSON. Anything else is a UI page: people get the login page."""
ADMIN_PREFIXES = ("/api/v1/owners", "/api/v1/plugins", "/owners/")  # "/owners/": the UI's owner forms
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

SessionLookup = Callable[[dict[str, Any]], Awaitable[Principal | None]]


def required_role(method: str, path: str) -> str:
    if method in SAFE_METHODS:
        return "read"
    if path.startswith(ADMIN_PREFIXES):
        return "admin"
    return "write"


class AuthMiddleware:
    def __init__(
        self,
        app: Any,
        auth: Authenticator,
        session_principal: SessionLookup | None = None,
        limiter: FailureLimiter | None = None,
        trusted_proxies: list[Network] | None = None,
    ) -> None:
        self.app = app
        self.auth = auth
        # The UI's session cookie, when the UI is mounted: an async callable(scope) -> Principal | None.
        self.session_principal = session_principal
        self.limiter = limiter or FailureLimiter(0, 0)
        self.trusted_proxies = trusted_proxies or []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS or scope["path"].startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        authorization = None
        for key, value in scope.get("headers") or ():
            if key.lower() == b"authorization":
                authorization = value.decode("latin-1")
        principal: Principal | None = None
        if authorization:
            address = client_address(scope, self.trusted_proxies)
            wait = self.limiter.retry_after(address)
            if wait:
                # Refused before any check: a guesser learns nothing and costs nothing.
                await _reply(
                    send,
                    429,
                    f"too many failed sign-in attempts from {address}; retry in {wait} s",
                    {"retry-after": str(wait)},
                )
                return
            try:
                principal = await self.auth.authenticate_async(authorization)
            except AuthBusy:
                await _reply(send, 503, "too many credential checks in progress; retry shortly", {"retry-after": "1"})
                return
            if principal is None:
                self.limiter.failed(address)
        elif self.session_principal is not None and (
            scope["method"] in SAFE_METHODS or not scope["path"].startswith(MACHINE_PREFIXES)
        ):
            # A UI session reads the API, but never writes through it: API writes carry no
            # CSRF token (the UI's forms do), so they need credentials in a header.
            principal = await self.session_principal(scope)
        need = required_role(scope["method"], scope["path"])
        if principal is None and scope["method"] == "GET" and not scope["path"].startswith(MACHINE_PREFIXES):
            target = scope["path"] + (f"?{scope['query_string'].decode()}" if scope.get("query_string") else "")
            await _redirect(send, "/login?" + urllib.parse.urlencode({"next": target}))
            return
        if principal is None:
            await _reply(
                send,
                401,
                "authentication required: send a Bearer token or HTTP Basic credentials",
                {"www-authenticate": 'Basic realm="moroccron"'},
            )
            return
        if not principal.can(need):
            await _reply(send, 403, f"{principal.name!r} has role {principal.role!r}; this needs {need!r}")
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


async def _reply(send: Any, status: int, message: str, extra: dict[str, str] | None = None) -> None:
    body = json.dumps({"error": message, "field": None, "allowed": None, "errors": []}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _redirect(send: Any, location: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [(b"location", location.encode()), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})
