"""Jobs: list, get, create, replace, delete, enable, disable."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Query, Response

from moroccron.api.deps import AppContext, ContextDep
from moroccron.dag import validate_graph
from moroccron.errors import Conflict, FieldError, ValidationError
from moroccron.model import JobSpec

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


def check_job(ctx: AppContext, job: JobSpec, *, removing: str | None = None) -> None:
    """Validate ``job`` against the whole job set: graph and plugin policy."""
    jobs = {j.name: j for j in ctx.store.all_jobs()}
    if removing is not None:
        jobs.pop(removing, None)
    jobs[job.name] = job
    validate_graph(jobs.values())
    errors = ctx.plugins.validate_job(job=job, existing=jobs)
    if errors:
        raise ValidationError(errors, f"job {job.name!r}")


def saved(ctx: AppContext, job: JobSpec) -> None:
    if ctx.scheduler is not None:
        ctx.scheduler.job_changed(job)


@router.get("")
def list_jobs(ctx: ContextDep, owner: str | None = None, q: str | None = None,
              label: str | None = Query(None, description="KEY=VALUE"),
              offset: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
    lab = None
    if label is not None:
        key, sep, value = label.partition("=")
        if not sep or not key:
            raise ValidationError.single("label", "must be KEY=VALUE", label, "e.g. team=data")
        lab = (key, value)
    jobs, total = ctx.store.list_jobs(owner=owner, q=q, label=lab, offset=offset, limit=limit)
    return {"total": total, "offset": offset, "limit": limit, "jobs": [j.to_dict() for j in jobs]}


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


@router.delete("/{name}", status_code=204)
def delete_job(ctx: ContextDep, name: str) -> Response:
    ctx.store.get_job(name)
    children = ctx.store.children_of(name)
    if children:
        raise Conflict(f"job {name!r} has dependent jobs {', '.join(sorted(children))}: "
                       "delete or change them first")
    ctx.store.delete_job(name)
    if ctx.scheduler is not None:
        ctx.scheduler.job_removed(name)
    return Response(status_code=204)


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
