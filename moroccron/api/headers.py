"""Browser security headers on every response: API, UI, documentation and error pages.

- ``X-Frame-Options: DENY`` and CSP ``frame-ancestors 'none'``: no page of another
  origin (another port of the same host included) may frame a moroccron page, so a
  logged-in page's buttons cannot be clicked through a disguised frame;
- a Content-Security-Policy that allows scripts, styles and requests from this origin
  only (the UI has no inline script or style; the API documentation pages need inline
  styles, and Redoc a worker made from a blob);
- ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: same-origin``.

Applied outermost (around Starlette's own error handler too), so a 500 page, a 401 from
the auth middleware and a response proxied from the leader carry them as well; headers
of the same names set further in are replaced, not doubled.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CSP", "DOCS_CSP", "SecurityHeaders"]

CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/redoc"})
_OURS = (b"x-frame-options", b"content-security-policy", b"x-content-type-options", b"referrer-policy")


def _headers(csp: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"x-frame-options", b"DENY"),
        (b"content-security-policy", csp.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
    ]


class SecurityHeaders:
    def __init__(self, app: Any) -> None:
        self.app = app
        self._default = _headers(CSP)
        self._docs = _headers(DOCS_CSP)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self._docs if scope["path"] in DOCS_PATHS else self._default

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers") or () if k.lower() not in _OURS]
                message = {**message, "headers": headers + extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: Any) -> None:
    """Wrap the whole middleware stack of ``app``, Starlette's error handler included."""
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: SecurityHeaders(build())
