"""Runs: start now, list, get, kill."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, HTTPException, Query

from moroccron.api.deps import ContextDep
from moroccron.errors import ValidationError
from moroccron.events import KillRequested, RunRequested, SaveRun
from moroccron.model import Run, RunState

router = APIRouter(prefix="/api/v1", tags=["runs"])


def run_dict(run: Run) -> dict[str, Any]:
    def ts(dt: datetime | None) -> str | None:
        return dt.isoformat() if dt else None

    return {
        "id": run.id, "job": run.job, "task_id": run.task_id, "attempt": run.attempt, "state": run.state.value,
        "trigger": run.trigger.value, "scheduled_at": ts(run.scheduled_at), "queued_at": ts(run.queued_at),
        "launched_at": ts(run.launched_at), "started_at": ts(run.started_at), "finished_at": ts(run.finished_at),
        "skew_seconds": run.skew, "duration_seconds": run.duration, "exit_status": run.exit_status,
        "reason": run.reason, "message": run.message, "agent_id": run.agent_id, "hostname": run.hostname,
        "arguments": list(run.arguments) if run.arguments is not None else None, "caused_by": run.caused_by,
    }


def _scheduler(ctx: ContextDep) -> Any:
    if ctx.scheduler is None:
        raise HTTPException(503, {"error": "this instance is not scheduling (not the leader)", "field": None,
                                  "allowed": None})
    return ctx.scheduler


@router.post("/jobs/{name}/runs", status_code=202)
def start_run(ctx: ContextDep, name: str, body: dict[str, Any] | None = Body(None)) -> dict[str, Any]:  # noqa: B008
    ctx.store.get_job(name)
    arguments = None
    if body and body.get("arguments") is not None:
        args = body["arguments"]
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ValidationError.single("arguments", "must be a list of strings", args, '["--date", "2026-01-01"]')
        arguments = tuple(args)
    actions = _scheduler(ctx).submit(RunRequested(name, arguments))
    created = [a.run for a in actions if isinstance(a, SaveRun) and a.new]
    if not created:
        raise HTTPException(409, {"error": f"job {name!r} could not be started", "field": None, "allowed": None})
    return run_dict(created[0])


@router.get("/jobs/{name}/runs")
def list_runs(ctx: ContextDep, name: str, state: str | None = None, offset: int = Query(0, ge=0),
              limit: int = Query(50, ge=1, le=1000)) -> dict[str, Any]:
    ctx.store.get_job(name)
    states = None
    if state:
        try:
            states = [RunState(s) for s in state.split(",")]
        except ValueError:
            raise ValidationError.single("state", "unknown run state", state,
                                         " | ".join(s.value for s in RunState)) from None
    runs, total = ctx.store.list_runs(name, states=states, offset=offset, limit=limit)
    return {"total": total, "offset": offset, "limit": limit, "runs": [run_dict(r) for r in runs]}


@router.get("/runs/{task_id}")
def get_run(ctx: ContextDep, task_id: str) -> dict[str, Any]:
    return run_dict(ctx.store.get_run_by_task_id(task_id))


@router.post("/jobs/{name}/kill", status_code=202)
def kill_job(ctx: ContextDep, name: str) -> dict[str, Any]:
    ctx.store.get_job(name)
    _scheduler(ctx).submit(KillRequested(name))
    return {"killing": name}
