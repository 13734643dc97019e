"""Limits on what a request may carry, checked before any route sees it (ASGI middleware).

- The body: at most ``max_request_bytes`` (setting; 1 MiB by default). A larger
  ``Content-Length`` is refused at once, without reading the body; a chunked body is
  counted as it arrives and refused as soon as it passes the limit. 413.
- JSON nesting: at most :data:`MAX_JSON_DEPTH` levels of arrays and objects. Python's
  JSON parser, and everything that walks the parsed value afterwards, recurses once per
  level: a body nested 50,000 deep would end in a RecursionError (a 500), and no job,
  owner or Chronos hash needs more than a handful of levels. 400.
- The path and the query string: no control characters (NUL above all: PostgreSQL
  cannot compare text with it, and SQLite's LIKE stops reading a pattern at it, so
  ``?q=%00`` would match every job). 400, naming the query parameter or ``path``.

One middleware for every route, native, Chronos and UI alike, so that no route can be
added without these limits.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any

from moroccron.api.errors import _body as error_body
from moroccron.errors import FieldError

__all__ = ["DEFAULT_MAX_REQUEST_BYTES", "MAX_JSON_DEPTH", "InputLimits", "json_too_deep"]

DEFAULT_MAX_REQUEST_BYTES = 1 << 20
MAX_JSON_DEPTH = 64

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A JSON string literal (brackets inside strings are text, not nesting).
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")
_FORM_TYPES = (b"application/x-www-form-urlencoded", b"multipart/form-data")


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True if ``body``, read as JSON, nests arrays and objects more than ``limit`` deep."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # the common case, decided without a scan
    depth = 0
    for bracket in _BRACKET.findall(_JSON_STRING.sub(b"", body)):
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _control_error(scope: dict[str, Any]) -> FieldError | None:
    """The first control character in the path or a query parameter, as an error."""
    bad = _CONTROL.search(scope.get("path", ""))
    if bad is not None:
        return FieldError(
            "path",
            f"contains a control character (U+{ord(bad.group()):04X})",
            scope["path"],
            "a path without control characters",
        )
    query = scope.get("query_string", b"").decode("latin-1")
    if not query:
        return None
    # Decoded as Starlette decodes it for the routes, so what is checked is what they get.
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        for text in (key, value):
            bad = _CONTROL.search(text)
            if bad is not None:
                return FieldError(
                    key,
                    f"contains a control character (U+{ord(bad.group()):04X})",
                    value,
                    "text without control characters",
                )
    return None


class InputLimits:
    """ASGI middleware applying the limits above; see the module docstring."""

    def __init__(
        self, app: Any, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES, max_json_depth: int = MAX_JSON_DEPTH
    ) -> None:
        self.app = app
        self.max_bytes = max_request_bytes
        self.max_depth = max_json_depth

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = _control_error(scope)
        if problem is not None:
            await _reply(send, 400, error_body(str(problem), [problem]))
            return
        headers = dict(scope.get("headers") or ())
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                problem = FieldError(
                    "content-length", "is not a number of bytes", declared.decode("latin-1"), "a whole number"
                )
                await _reply(send, 400, error_body(str(problem), [problem]))
                return
            if int(declared) > self.max_bytes:
                await self._too_large(send)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        content_type = headers.get(b"content-type", b"").lower()
        if body and not content_type.startswith(_FORM_TYPES) and json_too_deep(body, self.max_depth):
            problem = FieldError(
                "body",
                f"nests arrays and objects more than {self.max_depth} levels deep",
                None,
                f"JSON nested at most {self.max_depth} levels",
            )
            await _reply(send, 400, error_body(str(problem), [problem]))
            return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            message: dict[str, Any] = await receive()  # after the body: wait for the disconnect, as usual
            return message

        await self.app(scope, replay, send)

    async def _too_large(self, send: Any) -> None:
        problem = FieldError(
            "body",
            f"is larger than {self.max_bytes} bytes",
            None,
            f"at most {self.max_bytes} bytes (setting max_request_bytes)",
        )
        await _reply(send, 413, error_body(f"request body too large: {problem}", [problem]))


async def _reply(send: Any, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
