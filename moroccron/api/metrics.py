"""Prometheus metrics at ``/metrics`` (outside ``/api/v1``, where scrapers look by default)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from moroccron.api.codahale import codahale, wants_json

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {}, "application/json": {}},
            "description": "Prometheus text exposition; Codahale JSON for Chronos clients",
        },
        404: {"description": "This instance does not collect metrics"},
    },
)
def metrics(request: Request) -> Response:
    """This instance's metrics (see moroccron/metrics.py for the series and what they mean).

    Each instance reports its own: scrape every instance, and select the leader's
    scheduling series with ``moroccron_leader == 1``. A client that asks for
    ``application/json`` (or sends no ``Accept``, as chronos-python) gets the same
    series as Codahale JSON, the form Chronos served here.
    """
    # Read with getattr: the context may come from a caller that predates metrics, and
    # an instance without them says so instead of failing with a 500.
    collector = getattr(request.app.state.context, "metrics", None)
    if collector is None:
        return JSONResponse({"error": "metrics are not enabled", "field": None, "allowed": None}, status_code=404)
    if wants_json(request.headers.get("accept")):
        return JSONResponse(codahale(collector.registry))
    body, content_type = collector.render()
    return Response(content=body, media_type=content_type)
