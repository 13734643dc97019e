"""Health and status of this instance."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from moroccron import __version__
from moroccron.api.deps import ContextDep

router = APIRouter(tags=["status"])


@router.get("/healthz")
def healthz(ctx: ContextDep) -> dict[str, Any]:
    ctx.store.current_epoch()  # a database that cannot answer makes this instance unhealthy
    return {"ok": True}


@router.get("/api/v1/status")
def status(ctx: ContextDep) -> dict[str, Any]:
    out: dict[str, Any] = {"version": __version__, "leader": False, "framework_id": ctx.store.get_framework_id(),
                           "master": None, "connected": False, "queue": 0}
    if ctx.scheduler is not None:
        out.update(ctx.scheduler.status())
    out["leader_info"] = ctx.store.leader()
    # Verified (moroccron/api/leader.py); when it cannot be, None and the reason.
    check = ctx.leader()
    out["leader_address"], out["leader_problem"] = check.address, check.problem
    return out
