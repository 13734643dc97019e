"""Prometheus metrics at ``/metrics`` (outside ``/api/v1``, where scrapers look by default)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text exposition"},
                       404: {"description": "This instance does not collect metrics"}})
def metrics(request: Request) -> Response:
    """This instance's metrics (see moroccron/metrics.py for the series and what they mean).

    Each instance reports its own: scrape every instance, and select the leader's
    scheduling series with ``moroccron_leader == 1``.
    """
    # Read with getattr: the context may come from a caller that predates metrics, and
    # an instance without them says so instead of failing with a 500.
    collector = getattr(request.app.state.context, "metrics", None)
    if collector is None:
        return JSONResponse({"error": "metrics are not enabled", "field": None, "allowed": None}, status_code=404)
    body, content_type = collector.render()
    return Response(content=body, media_type=content_type)
