"""On a standby, send writes to the leader.

Reads are answered here, from the shared database. Writes go to the leader so that
its engine learns of every change at once:

- a request without credentials gets ``307 Temporary Redirect``, which keeps the
  method and body; HTTP clients (requests, curl -L, the Chronos tools) follow it;
- a request with credentials (``Authorization``, a cookie) is proxied to the leader
  instead: clients drop credentials when a redirect points at another host, so a
  redirect would turn an authenticated write into a 401 from the leader.

Either way only to a leader whose address is verified (ZooKeeper and the database name
the same instance, see moroccron/api/leader.py); otherwise ``503`` with ``Retry-After``.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import requests

WRITE_PREFIXES = ("/api/", "/v1/scheduler", "/scheduler")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORWARDED = b"x-moroccron-forwarded"
HOP_BY_HOP = frozenset(
    {
        b"host",
        b"content-length",
        b"connection",
        b"transfer-encoding",
        b"keep-alive",
        b"upgrade",
        b"te",
        b"trailer",
        b"proxy-authorization",
    }
)
PROXY_TIMEOUT = 30.0


class ForwardToLeader:
    def __init__(self, app: Any, context: Any) -> None:
        self.app = app
        self.context = context

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        ctx = self.context
        if (
            scope["type"] != "http"
            or scope["method"] in SAFE_METHODS
            or ctx.leadership is None
            or ctx.scheduler is not None
            or not scope["path"].startswith(WRITE_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        # Only to a verified leader (moroccron/api/leader.py): the request may carry an admin's credentials.
        check = await anyio.to_thread.run_sync(ctx.leader)
        leader = check.address
        headers = dict(scope.get("headers") or [])
        if not leader or leader == ctx.settings.bind or FORWARDED in headers:
            problem = check.problem or "no leader is elected right now; retry in a few seconds"
            await _json(send, 503, {"error": problem, "field": None, "allowed": None}, [(b"retry-after", b"2")])
            return
        query = scope.get("query_string", b"").decode()
        location = f"http://{leader}{scope['path']}" + (f"?{query}" if query else "")
        if b"authorization" in headers or b"cookie" in headers:
            await _proxy(scope, receive, send, location)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 307,
                "headers": [(b"location", location.encode()), (b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b""})


async def _json(send: Any, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": data})


async def _proxy(scope: dict[str, Any], receive: Any, send: Any, url: str) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = {
        k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers") or [] if k.lower() not in HOP_BY_HOP
    }
    headers[FORWARDED.decode()] = "1"
    client = scope.get("client")
    if client:
        headers["x-forwarded-for"] = client[0]

    def call() -> requests.Response:
        return requests.request(
            scope["method"], url, headers=headers, data=body, timeout=PROXY_TIMEOUT, allow_redirects=False
        )

    try:
        response = await anyio.to_thread.run_sync(call)
    except requests.RequestException as exc:
        await _json(
            send,
            502,
            {"error": f"the leader at {url.split('/')[2]} did not answer: {exc}", "field": None, "allowed": None},
            [(b"retry-after", b"2")],
        )
        return
    out = [
        (k.lower().encode("latin-1"), v.encode("latin-1"))
        for k, v in response.headers.items()
        if k.lower().encode("latin-1") not in HOP_BY_HOP and k.lower() != "content-encoding"
    ]
    out.append((b"content-length", str(len(response.content)).encode()))
    await send({"type": "http.response.start", "status": response.status_code, "headers": out})
    await send({"type": "http.response.body", "body": response.content})
