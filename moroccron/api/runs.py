"""Runs: start now, list, get, kill."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, HTTPException, Query, Request, Response

from moroccron.api.deps import AppContext, ContextDep, caller, require_scheduler
from moroccron.api.schemas import fast_json, notification_dict, run_dict
from moroccron.bounds import MAX_OFFSET
from moroccron.errors import Conflict, ValidationError
from moroccron.mesos.sandbox import SandboxError, SandboxReader
from moroccron.model import RunState, run_arguments

router = APIRouter(prefix="/api/v1", tags=["runs"])

MAX_LOG_OFFSET = 1 << 53
"""The largest log offset: past any file an agent holds, and exact as a JSON number."""


@router.post("/jobs/{name}/runs", status_code=202)
def start_run(request: Request, ctx: ContextDep, name: str, body: dict[str, Any] | None = Body(None)) -> dict[str, Any]:
    return start_run_as(ctx, name, body, caller(request))


def start_run_as(ctx: AppContext, name: str, body: Mapping[str, Any] | None, by: str | None) -> dict[str, Any]:
    """Start ``name`` now on behalf of ``by`` (a user or token name, recorded with the run)."""
    ctx.store.get_job(name)
    arguments = None
    if body and body.get("arguments") is not None:
        arguments = run_arguments(body["arguments"])  # the bounds of a job's own arguments
    scheduler = require_scheduler(ctx)
    quarantined = scheduler.snapshot.quarantined.get(name)
    if quarantined is not None:
        raise Conflict(f"job {name!r} is quarantined ({quarantined}); change it, or enable it again, to lift that")
    created = scheduler.run_now(name, arguments, by=by)
    if created is None:
        raise HTTPException(409, {"error": f"job {name!r} could not be started", "field": None, "allowed": None})
    return run_dict(created)


@router.get("/jobs/{name}/runs")
def list_runs(
    ctx: ContextDep,
    name: str,
    state: str | None = None,
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    limit: int = Query(50, ge=1, le=1000),
) -> Response:
    ctx.store.get_job(name)
    states = None
    if state:
        try:
            states = [RunState(s) for s in state.split(",")]
        except ValueError:
            raise ValidationError.single(
                "state", "unknown run state", state, " | ".join(s.value for s in RunState)
            ) from None
    runs, total = ctx.store.list_runs(name, states=states, offset=offset, limit=limit)
    confirmed = confirmations(ctx)
    return fast_json(
        {
            "total": total,
            "offset": offset,
            "limit": limit,
            "runs": [run_dict(r, confirmed.get(r.task_id)) for r in runs],
        }
    )


@router.get("/runs/{task_id}")
def get_run(ctx: ContextDep, task_id: str) -> dict[str, Any]:
    run = ctx.store.get_run_by_task_id(task_id)
    return run_dict(run, confirmations(ctx).get(run.task_id))


def confirmations(ctx: AppContext) -> Mapping[str, datetime]:
    """When the master last spoke of each live run's task: known to the leader only."""
    return ctx.scheduler.snapshot.confirmed if ctx.scheduler is not None else {}


@router.post("/jobs/{name}/kill", status_code=202)
def kill_job(request: Request, ctx: ContextDep, name: str) -> dict[str, Any]:
    """Kill the job's live runs (queued ones end at once). A kill by request is final: no retry."""
    return kill_job_runs(ctx, name, caller(request))


def kill_job_runs(ctx: AppContext, name: str, by: str | None) -> dict[str, Any]:
    ctx.store.get_job(name)
    require_scheduler(ctx).kill(name, by=by)
    return {"killing": name}


@router.post("/runs/{task_id}/kill", status_code=202)
def kill_run(request: Request, ctx: ContextDep, task_id: str) -> dict[str, Any]:
    run = ctx.store.get_run_by_task_id(task_id)
    if run.state.final:
        raise Conflict(f"run {task_id} has already ended ({run.state.value})")
    require_scheduler(ctx).kill(run.job, task_id, by=caller(request))
    return {"killing": task_id}


@router.get("/runs/{task_id}/attempts")
def list_attempts(ctx: ContextDep, task_id: str) -> Response:
    """Every attempt of the run's fire time (its retries and relaunches), first attempt first."""
    run = ctx.store.get_run_by_task_id(task_id)
    confirmed = confirmations(ctx)
    return fast_json(
        {
            "task_id": task_id,
            "runs": [run_dict(r, confirmed.get(r.task_id)) for r in ctx.store.attempts_of(run.job, run.scheduled_at)],
        }
    )


@router.get("/runs/{task_id}/notifications")
def list_notifications(ctx: ContextDep, task_id: str) -> Response:
    """The notifications about the run, newest first, with each target's delivery state."""
    ctx.store.get_run_by_task_id(task_id)
    return fast_json(
        {"task_id": task_id, "notifications": [notification_dict(n) for n in ctx.store.notifications(task_id=task_id)]}
    )


@router.get("/runs/{task_id}/{log_name}")
def read_log(
    ctx: ContextDep,
    task_id: str,
    log_name: str,
    offset: int = Query(-1, ge=-1, le=MAX_LOG_OFFSET),
    length: int = Query(65536, ge=0, le=1 << 20),
) -> dict[str, Any]:
    """A slice of the run's ``stdout`` or ``stderr`` from the agent sandbox.

    ``offset=-1`` (the default) reads the last ``length`` bytes; to follow a log, pass
    back ``offset + len(data.encode())`` as the next offset.
    """
    if log_name not in ("stdout", "stderr"):
        raise ValidationError.single("log", "unknown log", log_name, "stdout | stderr")
    run = ctx.store.get_run_by_task_id(task_id)
    if run.agent_id is None:
        raise Conflict(f"run {task_id} was never launched ({run.state.value}): it has no sandbox")
    scheduler = require_scheduler(ctx)
    master = scheduler.client.master if scheduler.client else None
    framework_id = ctx.store.get_framework_id()
    if not master or not framework_id:
        raise HTTPException(503, {"error": "not connected to a Mesos master", "field": None, "allowed": None})
    try:
        piece = SandboxReader(master).read(run.agent_id, framework_id, task_id, log_name, offset=offset, length=length)
    except SandboxError as exc:
        raise HTTPException(502, {"error": str(exc), "field": None, "allowed": None}) from None
    return {"task_id": task_id, "log": log_name, "data": piece.data, "offset": piece.offset, "size": piece.size}
