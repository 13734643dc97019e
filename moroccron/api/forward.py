"""On a standby, send writes to the leader with a 307 (Chronos clients follow it).

Reads are answered here, from the shared database. Writes go to the leader so that
its engine learns of every change at once; ``307 Temporary Redirect`` keeps the
method and body, and HTTP clients (requests, curl -L, the Chronos tools) follow it.
"""

from __future__ import annotations

import json
from typing import Any

WRITE_PREFIXES = ("/api/", "/v1/scheduler", "/scheduler")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ForwardToLeader:
    def __init__(self, app: Any, context: Any) -> None:
        self.app = app
        self.context = context

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        ctx = self.context
        if (scope["type"] != "http" or scope["method"] in SAFE_METHODS or ctx.leadership is None
                or ctx.scheduler is not None or not scope["path"].startswith(WRITE_PREFIXES)):
            await self.app(scope, receive, send)
            return
        leader = ctx.leader_address()
        if not leader or leader == ctx.settings.bind:
            body = json.dumps({"error": "no leader is elected right now; retry in a few seconds",
                               "field": None, "allowed": None}).encode()
            await send({"type": "http.response.start", "status": 503,
                        "headers": [(b"content-type", b"application/json"), (b"retry-after", b"2"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        query = scope.get("query_string", b"").decode()
        location = f"http://{leader}{scope['path']}" + (f"?{query}" if query else "")
        await send({"type": "http.response.start", "status": 307,
                    "headers": [(b"location", location.encode()), (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})
