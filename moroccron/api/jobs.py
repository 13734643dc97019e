"""Jobs: list, get, create, replace, delete, enable, disable."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Query, Response

from moroccron.api.deps import AppContext, ContextDep, require_scheduler
from moroccron.api.schemas import fast_json, run_dict
from moroccron.bounds import MAX_OFFSET
from moroccron.dag import DependencyGraph
from moroccron.errors import Conflict, FieldError, ValidationError
from moroccron.events import MarkSuccess, SaveRun
from moroccron.model import JobSpec
from moroccron.store.view import StoredJobs

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


def check_job(ctx: AppContext, job: JobSpec) -> None:
    """Validate ``job`` against the stored jobs: its graph and the plugins' policy.

    Reads only what the check needs, not every job: the job's ancestors (a cycle through
    it must pass through them), walked up level by level, and, for the plugins, a view
    that looks jobs up on demand. A create stays as fast at 10,000 jobs as at 10.
    """
    parents: dict[str, tuple[str, ...]] = {job.name: tuple(job.parents)}
    frontier = set(job.parents) - parents.keys()
    while frontier:
        found = ctx.store.parent_map(frontier)
        parents.update(found)
        frontier = {p for ps in found.values() for p in ps} - parents.keys()
    DependencyGraph(parents).validate()
    errors = ctx.plugins.validate_job(job=job, existing=StoredJobs(ctx.store, {job.name: job}))
    if errors:
        raise ValidationError(errors, f"job {job.name!r}")


def saved(ctx: AppContext, job: JobSpec) -> None:
    if ctx.scheduler is not None:
        ctx.scheduler.job_changed(job)


@router.get("")
def list_jobs(ctx: ContextDep, owner: str | None = None, q: str | None = None,
              label: str | None = Query(None, description="KEY=VALUE"),
              state: str | None = Query(None, description="enabled | disabled"),
              offset: int = Query(0, ge=0, le=MAX_OFFSET), limit: int = Query(100, ge=1, le=1000)) -> Response:
    if state not in (None, "enabled", "disabled"):
        raise ValidationError.single("state", "unknown job state", state, "enabled | disabled")
    disabled = None if state is None else state == "disabled"
    lab = None
    if label is not None:
        key, sep, value = label.partition("=")
        if not sep or not key:
            raise ValidationError.single("label", "must be KEY=VALUE", label, "e.g. team=data")
        lab = (key, value)
    jobs, total = ctx.store.list_job_dicts(owner=owner, q=q, label=lab, disabled=disabled, offset=offset,
                                           limit=limit)
    return fast_json({"total": total, "offset": offset, "limit": limit, "jobs": jobs})


@router.post("", status_code=201)
def create_job(ctx: ContextDep, body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
    job = JobSpec.from_dict(body)
    check_job(ctx, job)
    ctx.store.create_job(job)
    saved(ctx, job)
    return job.to_dict()


@router.get("/{name}")
def get_job(ctx: ContextDep, name: str) -> dict[str, Any]:
    return ctx.store.get_job(name).to_dict()


@router.put("/{name}")
def replace_job(ctx: ContextDep, name: str, response: Response,
                body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
    body = dict(body)
    if body.setdefault("name", name) != name:
        raise ValidationError(FieldError("name", "does not match the job in the URL", body["name"], name))
    job = JobSpec.from_dict(body)
    check_job(ctx, job)
    _, created = ctx.store.put_job(job)
    response.status_code = 201 if created else 200
    saved(ctx, job)
    return job.to_dict()


@router.patch("/{name}")
def patch_job(ctx: ContextDep, name: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
    """Change some fields of a job; the others keep their values. Nested objects are replaced whole."""
    if body.get("name", name) != name:
        raise ValidationError(FieldError("name", "cannot be changed", body["name"], name))
    record = ctx.store.get_job_record(name)
    job = JobSpec.from_dict({**record.spec.to_dict(), **body})
    check_job(ctx, job)
    ctx.store.put_job(job, expected_version=record.version)
    saved(ctx, job)
    return job.to_dict()


@router.delete("/{name}", status_code=204)
def delete_job(ctx: ContextDep, name: str, cascade: bool = False) -> Response:
    """Delete a job. Refused while other jobs depend on it, unless ``cascade=true``
    deletes its whole subtree (every job that depends on it, directly or not) too."""
    ctx.store.get_job(name)
    graph = DependencyGraph.from_jobs(ctx.store.all_jobs())
    dependents = graph.descendants(name)
    if dependents and not cascade:
        raise Conflict(f"job {name!r} has dependent jobs {', '.join(sorted(graph.children(name)))}: "
                       "delete or change them first, or delete them all with ?cascade=true")
    doomed = [name, *dependents]
    ctx.store.apply_jobs([], doomed)
    if ctx.scheduler is not None:
        for job in doomed:
            ctx.scheduler.job_removed(job)
    return Response(status_code=204)


@router.post("/{name}/success")
def mark_success(ctx: ContextDep, name: str) -> dict[str, Any]:
    """Record the job as succeeded without running it, so the jobs waiting on it can run."""
    ctx.store.get_job(name)
    actions = require_scheduler(ctx).submit(MarkSuccess(name))
    runs = [a.run for a in actions if isinstance(a, SaveRun) and a.run.job == name]
    return {"marked": name, "run": run_dict(runs[0]) if runs else None,
            "started": sorted({a.run.job for a in actions if isinstance(a, SaveRun) and a.new and a.run.job != name})}


def _set_disabled(ctx: AppContext, name: str, disabled: bool) -> dict[str, Any]:
    job = ctx.store.set_disabled(name, disabled)
    saved(ctx, job)
    return job.to_dict()


@router.post("/{name}/enable")
def enable_job(ctx: ContextDep, name: str) -> dict[str, Any]:
    return _set_disabled(ctx, name, False)


@router.post("/{name}/disable")
def disable_job(ctx: ContextDep, name: str) -> dict[str, Any]:
    return _set_disabled(ctx, name, True)


@router.get("/{name}/stats")
def job_stats(ctx: ContextDep, name: str, window: int = Query(100, ge=1, le=10000)) -> dict[str, Any]:
    """Run history in numbers: counts, last success and failure, failures in a row,
    duration and skew percentiles over the last ``window`` runs."""
    stats = ctx.store.job_stats(name, window=window)
    out: dict[str, Any] = {"job": name}
    for key, value in dataclasses.asdict(stats).items():
        out[key] = value.isoformat() if isinstance(value, datetime) else value
    return out
