"""Jobs: list, get, create, replace, delete, enable, disable.

Every write that the job graph constrains (create, replace, patch, delete) reads what it
decides on and writes in one transaction under the job-graph lock (see
:meth:`Store.job_unit_of_work`), so concurrent writes cannot together store what each
alone would have been refused: a cycle, a parent deleted under a new child. A write
answers with the job's ``ETag`` and honours ``If-Match`` (:mod:`moroccron.api.etag`).
Env values are masked by role in every answer (:mod:`moroccron.masking`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Query, Request, Response

from moroccron.api.deps import AppContext, ContextDep, require_scheduler
from moroccron.api.etag import NO_CONDITION, Precondition, PreconditionDep, etag
from moroccron.api.schemas import fast_json, run_dict
from moroccron.bounds import MAX_OFFSET
from moroccron.dag import DependencyGraph
from moroccron.errors import (
    Conflict,
    FieldError,
    NotFound,
    PreconditionFailed,
    StaleVersion,
    ValidationError,
)
from moroccron.masking import keep_hidden, mask_job, reveals_env
from moroccron.model import JobSpec
from moroccron.store.interfaces import JobLookup
from moroccron.store.store import JOB_STATES, JobRecord, Store
from moroccron.store.view import StoredJobs

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])

STATE_HELP = (
    " | ".join(JOB_STATES) + ": enabled or disabled as set; failed: the newest run that ended "
    "(succeeded, failed, lost or killed; skipped runs do not count) did not succeed; running: a task "
    "is launched, starting or running; quarantined: set aside after an internal error"
)


def check_job(ctx: AppContext, job: JobSpec, store: JobLookup) -> None:
    """Validate ``job`` against the stored jobs: its graph and the plugins' policy.

    Reads only what the check needs, not every job: the job's ancestors (a cycle through
    it must pass through them), walked up level by level, and, for the plugins, a view
    that looks jobs up on demand. A create stays as fast at 10,000 jobs as at 10. Pass
    the write's unit of work as ``store`` (a :meth:`Store.job_unit_of_work`) so that what
    is checked is what the write lands on.
    """
    parents: dict[str, tuple[str, ...]] = {job.name: tuple(job.parents)}
    frontier = set(job.parents) - parents.keys()
    while frontier:
        found = store.parent_map(frontier)
        parents.update(found)
        frontier = {p for ps in found.values() for p in ps} - parents.keys()
    DependencyGraph(parents).validate()
    roles = ctx.settings.framework_roles
    if job.role is not None and job.role not in roles:  # no offer would ever come for it
        raise ValidationError(
            FieldError(
                "role",
                "is not one of the roles this scheduler registers with Mesos",
                job.role,
                " | ".join(roles) + " (the roles setting), or null",
            ),
            f"job {job.name!r}",
        )
    errors = ctx.plugins.validate_job(job=job, existing=StoredJobs(store, {job.name: job}))
    if errors:
        raise ValidationError(errors, f"job {job.name!r}")


def saved(ctx: AppContext, job: JobSpec) -> None:
    if ctx.scheduler is not None:
        ctx.scheduler.job_changed(job)


def reveals(request: Request) -> bool:
    """Whether the caller sees env values that are not secret (write and admin do)."""
    return reveals_env(request.scope.get("state", {}).get("principal"))


def shown(job: JobSpec, reveal: bool) -> dict[str, Any]:
    """The JSON form of ``job`` for a caller, its hidden env values masked."""
    return mask_job(job.to_dict(), reveal)


def write_job(
    ctx: AppContext,
    name: str,
    body_for: Callable[[JobRecord | None], Mapping[str, Any]],
    cond: Precondition = NO_CONDITION,
    *,
    translate: Callable[[ValidationError], Exception] | None = None,
) -> tuple[JobRecord, bool]:
    """Create or replace job ``name`` from the body ``body_for(stored record)`` returns.

    One step under the job-graph lock: the precondition, env values sent masked put
    back from the stored job, validation, the graph and policy check, the write.
    ``translate`` turns a validation error into the caller's own (the Chronos API's 400).
    """

    def build(current: JobRecord | None) -> JobSpec:
        body = _writable(body_for(current))  # first: a PATCH of no job is a 404 whatever its conditions
        cond.check(name, current)
        return JobSpec.from_dict(keep_hidden(body, current.spec if current else None))

    def check(job: JobSpec, uow: Store) -> None:
        check_job(ctx, job, uow)

    try:
        record, created = ctx.store.save_job(name, build, check)
    except ValidationError as exc:
        if translate is None:
            raise
        raise translate(exc) from None
    saved(ctx, record.spec)
    return record, created


def create(ctx: AppContext, body: Mapping[str, Any]) -> JobRecord:
    """Create a job; :class:`Conflict` if the name is taken."""
    name = JobSpec.from_dict(keep_hidden(_writable(body), None)).name  # every field error before any lock

    def body_for(current: JobRecord | None) -> Mapping[str, Any]:
        if current is not None:
            raise Conflict(f"job {name!r} already exists")
        return body

    return write_job(ctx, name, body_for)[0]


def patch(ctx: AppContext, name: str, body: Mapping[str, Any], cond: Precondition = NO_CONDITION) -> JobRecord:
    """Change some fields of job ``name``; :class:`NotFound` if there is none."""
    if body.get("name", name) != name:
        raise ValidationError(FieldError("name", "cannot be changed", body["name"], name))

    def body_for(current: JobRecord | None) -> Mapping[str, Any]:
        if current is None:
            raise NotFound(f"job {name!r} not found")
        return {**current.spec.to_dict(), **body}

    return write_job(ctx, name, body_for, cond)[0]


def delete(ctx: AppContext, name: str, cascade: bool = False, cond: Precondition = NO_CONDITION) -> list[str]:
    """Delete a job (and, with ``cascade``, its dependents); the names deleted."""
    with ctx.store.job_unit_of_work() as uow:
        record = uow.get_job_record(name)
        cond.check(name, record)
        graph = DependencyGraph(uow.parent_map())
        dependents = graph.descendants(name)
        if dependents and not cascade:
            raise Conflict(
                f"job {name!r} has dependent jobs {', '.join(sorted(graph.children(name)))}: "
                "delete or change them first, or delete them all with ?cascade=true"
            )
        if dependents:
            uow.apply_jobs([], dependents)
        conditional = cond != NO_CONDITION
        try:  # the version read above, unless set_disabled changed it since (it takes no graph lock)
            uow.delete_job(name, expected_version=record.version if conditional else None)
        except StaleVersion as exc:
            raise PreconditionFailed(f"job {name!r} was changed since you read it; read it again") from exc
    doomed = [name, *dependents]
    if ctx.scheduler is not None:
        for job in doomed:
            ctx.scheduler.job_removed(job)
    return doomed


def _answer(response: Response, record: JobRecord, request: Request) -> dict[str, Any]:
    """The job's JSON, with its ``source`` (read only: the ``jobs apply --source`` that
    applied it last, or null)."""
    response.headers["ETag"] = etag(record)
    return {**shown(record.spec, reveals(request)), "source": record.source}


def _writable(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """``body`` without the read-only ``source``, so a job read can be sent back as it is."""
    return {k: v for k, v in body.items() if k != "source"} if isinstance(body, Mapping) and "source" in body else body


@router.get("")
def list_jobs(
    request: Request,
    ctx: ContextDep,
    owner: str | None = None,
    q: str | None = None,
    label: str | None = Query(None, description="KEY=VALUE"),
    state: str | None = Query(None, description=STATE_HELP),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    limit: int = Query(100, ge=1, le=1000),
) -> Response:
    if state is not None and state not in JOB_STATES:
        raise ValidationError.single("state", "unknown job state", state, " | ".join(JOB_STATES))
    lab = None
    if label is not None:
        key, sep, value = label.partition("=")
        if not sep or not key:
            raise ValidationError.single("label", "must be KEY=VALUE", label, "e.g. team=data")
        lab = (key, value)
    jobs, total = ctx.store.list_job_dicts(owner=owner, q=q, label=lab, state=state, offset=offset, limit=limit)
    reveal = reveals(request)
    jobs = [mask_job(job, reveal) for job in jobs]
    return fast_json({"total": total, "offset": offset, "limit": limit, "jobs": jobs})


@router.post("", status_code=201)
def create_job(
    request: Request, response: Response, ctx: ContextDep, body: dict[str, Any] = Body(...)
) -> dict[str, Any]:
    return _answer(response, create(ctx, body), request)


@router.get("/{name}")
def get_job(request: Request, response: Response, ctx: ContextDep, name: str) -> dict[str, Any]:
    return _answer(response, ctx.store.get_job_record(name), request)


@router.put("/{name}")
def replace_job(
    request: Request,
    ctx: ContextDep,
    name: str,
    response: Response,
    cond: PreconditionDep,
    body: dict[str, Any] = Body(...),
) -> dict[str, Any]:
    body = dict(body)
    if body.setdefault("name", name) != name:
        raise ValidationError(FieldError("name", "does not match the job in the URL", body["name"], name))
    record, created = write_job(ctx, name, lambda current: body, cond)
    response.status_code = 201 if created else 200
    return _answer(response, record, request)


@router.patch("/{name}")
def patch_job(
    request: Request,
    response: Response,
    ctx: ContextDep,
    name: str,
    cond: PreconditionDep,
    body: dict[str, Any] = Body(...),
) -> dict[str, Any]:
    """Change some fields of a job; the others keep their values. Nested objects are replaced whole."""
    return _answer(response, patch(ctx, name, body, cond), request)


@router.delete("/{name}", status_code=204)
def delete_job(ctx: ContextDep, name: str, cond: PreconditionDep, cascade: bool = False) -> Response:
    """Delete a job. Refused while other jobs depend on it, unless ``cascade=true``
    deletes its whole subtree (every job that depends on it, directly or not) too."""
    delete(ctx, name, cascade, cond)
    return Response(status_code=204)


@router.post("/{name}/success")
def mark_success(ctx: ContextDep, name: str) -> dict[str, Any]:
    """Record the job as succeeded without running it, so the jobs waiting on it can run."""
    ctx.store.get_job(name)
    done = require_scheduler(ctx).mark_success(name)
    return {"marked": name, "run": run_dict(done.run) if done.run else None, "started": list(done.started)}


def set_disabled(ctx: AppContext, name: str, disabled: bool) -> JobSpec:
    job = ctx.store.set_disabled(name, disabled)
    saved(ctx, job)
    return job


@router.post("/{name}/enable")
def enable_job(request: Request, ctx: ContextDep, name: str) -> dict[str, Any]:
    return shown(set_disabled(ctx, name, False), reveals(request))


@router.post("/{name}/disable")
def disable_job(request: Request, ctx: ContextDep, name: str) -> dict[str, Any]:
    return shown(set_disabled(ctx, name, True), reveals(request))


@router.get("/{name}/stats")
def job_stats(ctx: ContextDep, name: str, window: int = Query(100, ge=1, le=10000)) -> dict[str, Any]:
    """Run history in numbers: counts, last success and failure, failures in a row,
    duration and skew percentiles over the last ``window`` runs; and, if the scheduler set
    the job aside after an internal error, why and since when (``quarantined``)."""
    stats = ctx.store.job_stats(name, window=window)
    out: dict[str, Any] = {"job": name}
    for key, value in dataclasses.asdict(stats).items():
        out[key] = value.isoformat() if isinstance(value, datetime) else value
    error = ctx.store.job_errors([name]).get(name)
    # Set aside after an internal error: not scheduled until changed or enabled again.
    out["quarantined"] = {"reason": error[0], "since": error[1].isoformat()} if error else None
    return out
