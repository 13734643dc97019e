"""Health, readiness and status of this instance."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from moroccron import __version__
from moroccron.api.deps import AppContext, ContextDep
from moroccron.readiness import Readiness, check

router = APIRouter(tags=["status"])


@router.get("/healthz")
def healthz() -> dict[str, Any]:
    """Liveness: the process answers. Nothing else is asked, so a database or Mesos outage
    never makes a supervisor restart every instance at once (``/readyz`` reports those)."""
    return {"ok": True}


def readiness(ctx: AppContext) -> Readiness:
    return check(ctx.scheduler, ctx.store, ctx.leadership)


@router.get("/readyz")
def readyz(ctx: ContextDep) -> JSONResponse:
    """Readiness: 200 when this instance can do its job (a leader that schedules, or a standby
    that could take over), else 503; both with ``{"ready", "role", "reasons"}``, the 503 also
    with the ``error`` every error body has."""
    found = readiness(ctx)
    body = found.to_dict()
    if not found.ready:
        body = {"error": "not ready: " + "; ".join(found.reasons), "field": None, "allowed": None, **body}
    return JSONResponse(body, status_code=200 if found.ready else 503, headers={"Cache-Control": "no-store"})


@router.get("/api/v1/status")
def status(ctx: ContextDep) -> dict[str, Any]:
    out: dict[str, Any] = {
        "version": __version__,
        "leader": False,
        "framework_id": ctx.store.get_framework_id(),
        "master": None,
        "connected": False,
        "queue": 0,
    }
    if ctx.scheduler is not None:
        out.update(ctx.scheduler.status())
    out["ready"] = readiness(ctx).to_dict()
    out["leader_info"] = ctx.store.leader()
    # Verified (moroccron/api/leader.py); when it cannot be, None and the reason.
    check_ = ctx.leader()
    out["leader_address"], out["leader_problem"] = check_.address, check_.problem
    return out
