"""The Chronos v1 REST API, so Chronos clients and scripts work against moroccron unchanged.

Every route is served under ``/v1/scheduler`` and under ``/scheduler`` (the prefix of
older Chronos releases, which some clients still use; left out of the OpenAPI document
to keep it readable), and ``GET /leader`` at the root as Chronos served it.
The app mounts :data:`routers`.

Errors answer in Chronos' shape, ``{"status", "message"}`` (an unknown job is 400, as
in Chronos), with moroccron's ``error``, ``field``, ``allowed`` and ``errors`` beside
them. Every answer carries ``Access-Control-Allow-Origin`` when the setting
``chronos_cors_origin`` is set.

What differs from Chronos, on purpose:

- **Validation errors** name the Chronos field (``scheduleTimeZone``, ``cpus``) rather
  than giving a stack trace; an unknown ``scheduleTimeZone`` is refused where Chronos
  silently used GMT.
- **Unknown and ignored fields** are accepted; their names come back in the
  ``X-Moroccron-Ignored-Fields`` response header (see :mod:`moroccron.api.chronos_schema`).
- **Deleting a parent** re-parents its children as Chronos did, but a child that takes
  the deleted job's schedule keeps all its own other fields (Chronos rebuilt it from a
  few and lost its container, environment and arguments), and a child with other
  parents left keeps those rather than becoming scheduled. ``?cascade=true`` deletes
  the whole subtree instead.
- **Statistics** are over the job's last :data:`STATS_WINDOW` successful runs, read
  from the run history; ``mean`` is a real mean (Chronos reported the median under that
  name).
- **Starting a job** the engine then skips (``concurrency: forbid`` with a run in
  progress) answers 409 with the reason, where Chronos said 204 and queued it anyway.
- **Starting a disabled job** answers 409 and runs nothing. Chronos also ran nothing,
  but answered 204 and dropped the run where no one saw it. (The native API's
  ``POST /api/v1/jobs/<name>/runs`` still runs a disabled job: there, disabling stops
  the schedule, not an explicit start.)
- **Manual-start ``arguments``** go onto a shell job's command line as Chronos put them
  (after a space, ``;`` removed); a job run without a shell gets their words as
  arguments, where Chronos made the string part of the program's name.
- Not provided: ``/job/<name>/task/<id>/progress`` (needed Cassandra) and
  ``PUT /task/<id>`` (completion of ``async`` jobs, which moroccron does not run).
"""

from __future__ import annotations

import re
import shlex
from collections import defaultdict
from collections.abc import Callable, Coroutine, Iterable, Sequence
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from moroccron.api.chronos_schedule import once_now
from moroccron.api.chronos_schema import (
    CHRONOS_DEFAULT_USER,
    ChronosJob,
    from_chronos,
    owner_names,
    to_chronos,
    translate,
)
from moroccron.api.deps import AppContext, ContextDep, caller, require_scheduler
from moroccron.api.errors import _body as error_body
from moroccron.api.jobs import delete as delete_native
from moroccron.api.jobs import reveals, write_job
from moroccron.bounds import MAX_OFFSET
from moroccron.dag import DependencyGraph
from moroccron.errors import FieldError, NotFound, ValidationError
from moroccron.events import RunRequested
from moroccron.masking import mask_env
from moroccron.model import JobSpec, Run, RunState, chronos_names, run_argument_line, run_arguments
from moroccron.store import JobRecord
from moroccron.store.stats import JobStats, percentile

__all__ = ["IGNORED_HEADER", "PERCENTILES", "STATS_WINDOW", "chronos_router", "leader_router", "routers"]

IGNORED_HEADER = "X-Moroccron-Ignored-Fields"
"""Response header listing the job-hash fields that were accepted but not acted on."""

STATS_WINDOW = 100
"""How many of a job's most recent runs the Chronos statistics are over."""

PERCENTILES: dict[str, float | None] = {
    "99thPercentile": 99,
    "98thPercentile": 98,
    "95thPercentile": 95,
    "75thPercentile": 75,
    "median": 50,
    "mean": None,
}
"""The statistics ``/stats/<name>`` accepts, in Chronos's names (None: the mean)."""

_HEADER_MAX_FIELDS = 50


# --------------------------------------------------------------------------- helpers


async def _json_body(request: Request) -> Any:
    """The request body as JSON; a body that is not JSON is a 400 as Chronos gave."""
    try:
        return await request.json()
    except RecursionError:  # the nesting limit (moroccron.api.limits) stops this first
        raise _bad_request(ValidationError.single("body", "is nested too deeply", None, "a JSON job hash")) from None
    except ValueError as exc:
        raise _bad_request(ValidationError.single("body", f"is not JSON: {exc}", None, "a JSON job hash")) from None


JsonBody = Depends(_json_body)


def _bad_request(exc: ValidationError) -> HTTPException:
    return HTTPException(400, error_body(str(exc), exc.errors))


def _ignored_header(fields: Sequence[str]) -> dict[str, str]:
    if not fields:
        return {}
    shown = list(fields[:_HEADER_MAX_FIELDS]) + (["..."] if len(fields) > _HEADER_MAX_FIELDS else [])
    # Field names come from the client: keep the header printable ASCII whatever they hold.
    return {IGNORED_HEADER: re.sub(r"[^\x20-\x7e]", "?", ", ".join(shown))}


def _last_status(stats: JobStats | None) -> str:
    """Chronos's last state: whichever of the last success and the last failure is later."""
    if stats is None or (stats.last_success_at is None and stats.last_failure_at is None):
        return "fresh"
    if stats.last_failure_at is None:
        return "success"
    if stats.last_success_at is None:
        return "failure"
    return "success" if stats.last_success_at > stats.last_failure_at else "failure"


def _state_of(runs: Iterable[Run]) -> str:
    runs = list(runs)
    states = {r.state for r in runs}
    live = sum(1 for r in runs if r.state.live)
    if live:
        return f"{live} running"  # as Chronos counted its running tasks
    if RunState.QUEUED in states:
        return "queued"
    return "idle"


def _states(ctx: AppContext) -> Callable[[str], str]:
    """job name -> idle | queued | running: from the leader's engine when this instance
    schedules (no lag behind a commit), else from the store's unfinished runs."""
    engine = getattr(ctx.scheduler, "engine", None)
    if engine is not None:

        def live(name: str) -> str:
            try:
                return _state_of(engine.runs_of(name))
            except RuntimeError:  # the engine thread changed its maps mid-read
                return _state_of(r for r in ctx.store.unfinished_runs() if r.job == name)

        return live
    by_job: dict[str, list[Run]] = defaultdict(list)
    for run in ctx.store.unfinished_runs():
        by_job[run.job].append(run)
    return lambda name: _state_of(by_job.get(name, ()))


def _histogram(durations: Sequence[float], scale: float = 1.0) -> dict[str, float | int]:
    """The statistics of ``durations`` (seconds), times ``scale`` (1000: milliseconds)."""
    out: dict[str, float | int] = {}
    for key, q in PERCENTILES.items():
        if not durations:
            out[key] = 0.0
        elif q is None:
            out[key] = sum(durations) / len(durations) * scale
        else:
            out[key] = (percentile(durations, q) or 0.0) * scale
    out["count"] = len(durations)
    return out


def _durations(ctx: AppContext, name: str) -> list[float]:
    """Seconds each of the job's recent successful runs took. Only successes: a run that
    failed in its first second says nothing about how long the job takes."""
    runs, _ = ctx.store.list_runs(name, states=[RunState.SUCCEEDED], limit=STATS_WINDOW)
    return [d for d in (r.duration for r in runs) if d is not None]


def _task_status(run: Run) -> str:
    if run.state == RunState.SUCCEEDED:
        return "Success"
    if run.state.final:
        return "Fail"  # Chronos lumped killed and lost with failed
    return "Running"


def _chronos_clock(when: datetime | None) -> str:
    return when.strftime("%m/%d/%y %H:%M:%S") if when is not None else "N/A"


def _chronos_duration(seconds: float) -> str:
    """Chronos's (Joda's) period text: ``1h2m5s``, zero hours and minutes left out."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + f"{secs}s"


def _task_stat(run: Run) -> dict[str, Any]:
    out: dict[str, Any] = {
        "taskId": run.task_id,
        "jobName": run.job,
        "slaveId": run.agent_id or "",
        "startTime": _chronos_clock(run.started_at or run.launched_at),
        "endTime": _chronos_clock(run.finished_at),
    }
    if run.duration is not None:
        out["duration"] = _chronos_duration(run.duration)
    out["status"] = _task_status(run)
    return out


def _start_request(job: JobSpec, values: Sequence[str] | None) -> RunRequested:
    """The run request of ``PUT /job/<name>?arguments=...``.

    Chronos added the string to the command line as it is, after a space (with ``;``
    taken out), so a shell job gets exactly that: ``--date 2020-01-01`` is two words to
    the shell, ``--list=a,b,c`` one. A job run without a shell gets the string's words as
    its arguments, split as a shell would split them (quotes group words): Chronos made
    the whole string part of the program's name there, a task that could not start.
    Repeated ``arguments`` values are joined with a space (Chronos read the first).
    """
    try:
        line = run_argument_line(" ".join(values)) if values else None
        if line is None or job.shell:
            return RunRequested(job.name, argument_line=line)
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise ValidationError.single(
                "arguments",
                f"cannot be split into words: {exc}",
                line,
                "words as a shell reads them, with matched quotes",
            ) from None
        return RunRequested(job.name, run_arguments(words) or None)
    except ValidationError as exc:
        raise _bad_request(exc) from None


# --------------------------------------------------------------------------- jobs


def _save(ctx: AppContext, body: Any, kind: Literal["schedule", "parents"]) -> Response:
    """Create or replace a job from a Chronos job hash (Chronos replaced on every POST).

    A job posted to ``/iso8601`` without a schedule runs once, now (Chronos gave it
    ``R1/<now>/PT24H``); one whose start is in the past runs now and keeps its series
    (see :mod:`moroccron.api.chronos_schedule`).
    """
    now = datetime.now(UTC)
    errors: list[FieldError] = []
    if kind == "schedule" and isinstance(body, dict) and not body.get("schedule"):
        body = {**body, "schedule": once_now(now)}
    if kind == "parents" and isinstance(body, dict) and not body.get("parents"):
        errors.append(
            FieldError(
                "parents",
                "is required for a dependent job (use /iso8601 for a scheduled job)",
                body.get("parents"),
                "a non-empty list of job names",
            )
        )
    user = getattr(ctx.settings, "chronos_run_as_user", CHRONOS_DEFAULT_USER)
    try:
        parsed = from_chronos(body, now=now, default_user=user)  # every field error before any lock
    except ValidationError as exc:
        raise _bad_request(ValidationError(errors + exc.errors, exc.prefix)) from None
    job = parsed.job
    if errors:
        raise _bad_request(ValidationError(errors, f"job {job.name!r}"))
    read: list[ChronosJob] = [parsed]

    def body_for(current: JobRecord | None) -> dict[str, Any]:
        # Read again against the stored job, under the lock: a job sent back as read keeps
        # its schedule (and is not run) whatever Chronos would make of it afresh.
        if current is not None:
            read[0] = from_chronos(body, now=now, default_user=user, current=current.spec)
        return read[0].job.to_dict()

    # Checked and written under the job-graph lock; masked env values sent back keep
    # the stored ones (a sync script that read the job and posts it again).
    with chronos_names():
        write_job(ctx, job.name, body_for, translate=lambda exc: _bad_request(translate(exc, job.name)))
    if read[0].run_now and ctx.scheduler is not None:
        ctx.scheduler.run_now(job.name)
    return Response(status_code=204, headers=_ignored_header(read[0].ignored))


def _job_hash(job: JobSpec, stats: JobStats | None, names: dict[str, str], reveal: bool) -> dict[str, Any]:
    """:func:`to_chronos`, with the env values the caller may not see masked."""
    out = to_chronos(job, stats, names)
    if job.secret_env:  # else as to_chronos gives it: the list as sent, a name repeated included
        out["environmentVariables"] = [
            {"name": k, "value": v} for k, v in mask_env(job.env, job.secret_env, reveal).items()
        ]
    return out


def create_scheduled(ctx: ContextDep, body: Any = JsonBody) -> Response:
    """Create or replace a scheduled job (a Chronos job hash with ``schedule``)."""
    return _save(ctx, body, "schedule")


def create_dependent(ctx: ContextDep, body: Any = JsonBody) -> Response:
    """Create or replace a dependent job (a Chronos job hash with ``parents``)."""
    return _save(ctx, body, "parents")


def list_jobs(request: Request, ctx: ContextDep) -> list[dict[str, Any]]:
    """Every job as a Chronos job hash, with its run statistics."""
    stats = ctx.store.all_job_stats(window=STATS_WINDOW)
    names = owner_names(ctx.store.list_owners())
    reveal = reveals(request)
    return [_job_hash(job, stats.get(job.name), names, reveal) for job in ctx.store.all_jobs()]


def search_jobs(
    request: Request,
    ctx: ContextDep,
    name: str | None = None,
    command: str | None = None,
    any: str | None = None,
    limit: int = Query(10, ge=0, le=MAX_OFFSET),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> list[dict[str, Any]]:
    """Jobs whose name and command contain the terms given, case-insensitive, or whose
    name or command contains ``any``: as in Chronos, ``any`` widens the match, and alone
    it matches every job. ``limit`` defaults to 10, as in Chronos.
    """

    def has(text: str | None, term: str | None) -> bool:
        return not term or term.lower() in (text or "").lower()

    # The store's text search (name, description and command) narrows the candidates in
    # SQL; the exact per-field rules are applied to those only.
    terms = [t for t in (name, command) if t]
    if terms and not any:
        candidates, _ = ctx.store.list_jobs(q=max(terms, key=len), limit=1_000_000)
    else:
        candidates = ctx.store.all_jobs()
    found = [
        j
        for j in candidates
        if (has(j.name, name) and has(j.command, command)) or (any and (has(j.name, any) or has(j.command, any)))
    ]
    page = found[offset : offset + limit]
    stats = ctx.store.all_job_stats(window=STATS_WINDOW, names=[j.name for j in page]) if page else {}
    names = owner_names(ctx.store.list_owners()) if page else {}
    reveal = reveals(request)
    return [_job_hash(job, stats.get(job.name), names, reveal) for job in page]


def summary(ctx: ContextDep) -> dict[str, Any]:
    """What the Chronos UI's job list shows: last status, current state, schedule."""
    stats = ctx.store.all_job_stats(window=STATS_WINDOW)
    state = _states(ctx)
    return {
        "jobs": [
            {
                "name": j.name,
                "status": _last_status(stats.get(j.name)),
                "state": state(j.name),
                "schedule": j.schedule or "",
                "parents": list(j.parents),
                "disabled": j.disabled,
            }
            for j in ctx.store.all_jobs()
        ]
    }


def start_job(
    request: Request,
    ctx: ContextDep,
    name: str,
    arguments: Annotated[list[str] | None, Query(description="added to the command line as is")] = None,
) -> Response:
    """Start the job now; ``arguments`` is added to its command line (see :func:`_start_request`).

    A disabled job is not started (Chronos never ran it): 409 says so, where Chronos
    answered 204 and dropped the run unseen.
    """
    job = ctx.store.get_job(name)
    if job.disabled:
        raise HTTPException(
            409,
            error_body(
                f"job {name!r} was not started: it is disabled, and a disabled job "
                "never runs, not even when started by hand (enable it first)"
            ),
        )
    wanted = _start_request(job, arguments)
    run = require_scheduler(ctx).run_now(name, wanted.arguments, by=caller(request), argument_line=wanted.argument_line)
    if run is not None and run.state == RunState.SKIPPED:
        raise HTTPException(409, error_body(f"job {name!r} was not started: {run.reason}"))
    return Response(status_code=204)


def delete(ctx: ContextDep, name: str, cascade: bool = False) -> Response:
    """Delete the job, as Chronos did: each child loses it as a parent and takes its
    parents instead; a child left with no parent gets the deleted job's schedule and time
    zone. ``?cascade=true`` (moroccron's) deletes the whole subtree instead."""
    if cascade:
        delete_native(ctx, name, cascade)
        return Response(status_code=204)
    with chronos_names(), ctx.store.job_unit_of_work() as uow:
        gone = uow.get_job(name)
        children = [uow.get_job(child) for child in DependencyGraph(uow.parent_map()).children(name)]
        adopted = [_adopt(child, gone) for child in children]
        uow.apply_jobs(adopted, [name])
    if ctx.scheduler is not None:
        for child in adopted:
            ctx.scheduler.job_changed(child)
        ctx.scheduler.job_removed(name)
    return Response(status_code=204)


def _adopt(child: JobSpec, gone: JobSpec) -> JobSpec:
    """``child`` once its parent ``gone`` is deleted. Unlike Chronos, which rebuilt a child
    that became scheduled from a few of its fields (losing its container, environment,
    arguments...), every other field of the child is kept."""
    parents = tuple(dict.fromkeys([*(p for p in child.parents if p != gone.name), *gone.parents]))
    if parents or gone.schedule is None:
        return child.evolve(parents=parents)
    return child.evolve(parents=(), schedule=gone.schedule, timezone=gone.timezone)


def get_job(request: Request, ctx: ContextDep, name: str) -> dict[str, Any]:
    """One job's hash (Chronos 3)."""
    job = ctx.store.get_job(name)
    stats = ctx.store.all_job_stats(window=STATS_WINDOW, names=[name])
    return _job_hash(job, stats.get(name), owner_names(ctx.store.list_owners()), reveals(request))


def kill_all(request: Request, ctx: ContextDep) -> Response:
    """Kill the live tasks of every job."""
    scheduler = require_scheduler(ctx)
    for job in ctx.store.all_jobs():
        scheduler.kill(job.name, by=caller(request))
    return Response(status_code=204)


def ping() -> PlainTextResponse:
    """``pong``: this instance answers."""
    return PlainTextResponse("pong")


def mark_success(ctx: ContextDep, name: str) -> PlainTextResponse:
    """Record the job as succeeded without running it, so its children run; answers
    ``marked job <name> as successful: true|false`` as Chronos did."""
    ctx.store.get_job(name)
    done = require_scheduler(ctx).mark_success(name).run is not None
    return PlainTextResponse(f"marked job {name} as successful: {'true' if done else 'false'}")


def task_completed(ctx: ContextDep, task_id: str, body: Any = JsonBody) -> Response:
    """An async job's task reports its work done: ``{"statusCode": 0}`` succeeds the run,
    any other code fails it (retried as usual). Answers 204, as Chronos did, also for a
    task id that names no run waiting for a report (ignored, as Chronos ignored it)."""
    code = body.get("statusCode") if isinstance(body, dict) else None
    if isinstance(code, str) and code.strip().lstrip("-").isdigit() and len(code.strip()) <= 10:
        code = int(code)  # Jackson read numeric text as a number; so do we
    if not isinstance(code, int) or isinstance(code, bool) or not -(2**31) <= code < 2**31:
        # Chronos read a missing statusCode as 0, a success: a report that says nothing is refused.
        raise _bad_request(
            ValidationError.single(
                "statusCode", "is required, an integer", code, "an integer: 0 for success, anything else for failure"
            )
        )
    require_scheduler(ctx).complete_async(task_id, code)
    return Response(status_code=204)


def kill_tasks(request: Request, ctx: ContextDep, name: str) -> Response:
    """Kill every live task of the job (queued runs are dropped)."""
    ctx.store.get_job(name)
    require_scheduler(ctx).kill(name, by=caller(request))
    return Response(status_code=204)


def job_stat(ctx: ContextDep, name: str) -> dict[str, Any]:
    """Duration histogram (milliseconds, as Chronos' timers) and recent task history of one job."""
    ctx.store.get_job(name)
    runs, _ = ctx.store.list_runs(name, limit=STATS_WINDOW)
    history = [_task_stat(r) for r in runs if r.launched_at is not None or r.started_at is not None]
    return {"histogram": _histogram(_durations(ctx, name), 1000.0), "taskStatHistory": history}


def graph_dot(ctx: ContextDep) -> PlainTextResponse:
    """The dependency graph as Chronos wrote it: numbered nodes, each with its job name
    as ``label``, then one ``a -> b`` line per edge."""
    jobs = sorted(ctx.store.all_jobs(), key=lambda j: j.name)
    number = {j.name: i for i, j in enumerate(jobs, start=1)}
    lines = ["digraph G {"]
    lines += [f'  {number[j.name]} [ label="{_dot_label(j.name)}" ];' for j in jobs]
    lines += [f"  {number[p]} -> {number[j.name]};" for j in jobs for p in j.parents if p in number]
    return PlainTextResponse("\n".join([*lines, "}"]) + "\n")


def _dot_label(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', '\\"')


def graph_csv(ctx: ContextDep) -> PlainTextResponse:
    """``node,<name>,<last status>,<state>`` per job, then ``link,<parent>,<child>`` per edge.

    Job names cannot hold a comma, so no field needs quoting.
    """
    jobs = ctx.store.all_jobs()
    stats = ctx.store.all_job_stats(window=STATS_WINDOW)
    state = _states(ctx)
    lines = [f"node,{j.name},{_last_status(stats.get(j.name))},{state(j.name)}" for j in jobs]
    lines += [f"link,{parent},{child}" for parent, child in sorted((p, j.name) for j in jobs for p in j.parents)]
    return PlainTextResponse("".join(line + "\n" for line in lines))


def stats(ctx: ContextDep, percentile_name: str) -> list[dict[str, Any]]:
    """Every job and its ``percentile_name`` duration in seconds (0.0 if it never ran),
    longest first; ``[]`` for a statistic Chronos does not know, as Chronos answered."""
    if percentile_name not in PERCENTILES:
        return []
    rows: list[dict[str, Any]] = []
    for job in ctx.store.all_jobs():
        rows.append({"jobNameLabel": job.name, "time": _histogram(_durations(ctx, job.name))[percentile_name]})
    rows.sort(key=lambda row: (-row["time"], row["jobNameLabel"]))
    return rows


def leader(ctx: ContextDep) -> dict[str, str]:
    """``{"leader": "host:port"}`` of the leader ("" if none is known)."""
    return {"leader": ctx.leader_address() or ""}


# --------------------------------------------------------------------------- routers


def _chronos_error(exc: Exception) -> JSONResponse:
    """An error in Chronos' shape, ``{"status", "message"}``, with moroccron's fields
    (``error``, ``field``, ``allowed``, ``errors``) beside them. Chronos answered an
    unknown job with 400 Bad Request, and so does this API."""
    if isinstance(exc, NotFound):
        code, body = 400, error_body(str(exc))
    elif isinstance(exc, StarletteHTTPException):
        code = exc.status_code
        body = exc.detail if isinstance(exc.detail, dict) else error_body(str(exc.detail))
    else:  # RequestValidationError: a bad query or path parameter
        errors = [
            FieldError(
                ".".join(str(p) for p in e.get("loc", ()) if p not in ("query", "path", "body")) or "request",
                e.get("msg", "invalid"),
                e.get("input"),
                None,
            )
            for e in exc.errors()  # type: ignore[attr-defined]
        ]
        code, body = 400, error_body("; ".join(str(e) for e in errors), errors)
    status = HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else str(code)
    return JSONResponse(
        {"status": status, "message": body.get("error", ""), **body},
        status_code=code,
        headers=getattr(exc, "headers", None),
    )


class ChronosRoute(APIRoute):
    """A Chronos route: errors in Chronos' shape (:func:`_chronos_error`), and the
    ``Access-Control-Allow-Origin`` of the setting ``chronos_cors_origin``, as Chronos
    sent one on every answer."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except (NotFound, StarletteHTTPException, RequestValidationError) as exc:
                response = _chronos_error(exc)
            origin = getattr(request.app.state.context.settings, "chronos_cors_origin", "")
            if origin:
                response.headers["Access-Control-Allow-Origin"] = origin
            return response

        return route


_ROUTES: tuple[tuple[str, Callable[..., Any], tuple[str, ...], dict[str, Any]], ...] = (
    ("/iso8601", create_scheduled, ("POST", "PUT"), {"status_code": 204}),
    ("/dependency", create_dependent, ("POST", "PUT"), {"status_code": 204}),
    ("/jobs", list_jobs, ("GET",), {}),
    ("/jobs/search", search_jobs, ("GET",), {}),
    ("/jobs/summary", summary, ("GET",), {}),
    ("/job/success/{name}", mark_success, ("POST", "PUT"), {"response_class": PlainTextResponse}),
    ("/job/stat/{name}", job_stat, ("GET",), {}),
    ("/job/{name}", start_job, ("PUT",), {"status_code": 204}),
    ("/job/{name}", get_job, ("GET",), {}),
    ("/job/{name}", delete, ("DELETE",), {"status_code": 204}),
    ("/task/kill/{name}", kill_tasks, ("DELETE",), {"status_code": 204}),
    ("/task/all", kill_all, ("DELETE",), {"status_code": 204}),
    ("/task/{task_id}", task_completed, ("PUT",), {"status_code": 204}),
    ("/graph/dot", graph_dot, ("GET",), {"response_class": PlainTextResponse}),
    ("/graph/csv", graph_csv, ("GET",), {"response_class": PlainTextResponse}),
    ("/stats/{percentile_name}", stats, ("GET",), {}),
    ("/leader", leader, ("GET",), {}),
)


def chronos_router(prefix: str, *, include_in_schema: bool = True) -> APIRouter:
    """Every Chronos route under ``prefix``. One route per method, so that each has an
    OpenAPI operation id of its own."""
    router = APIRouter(prefix=prefix, tags=["chronos"], route_class=ChronosRoute)
    slug = prefix.strip("/").replace("/", "_")
    for path, endpoint, methods, options in _ROUTES:
        for method in methods:
            router.add_api_route(
                path,
                endpoint,
                methods=[method],
                include_in_schema=include_in_schema,
                name=f"{slug}_{endpoint.__name__}_{method.lower()}",
                **options,
            )
    return router


def leader_router() -> APIRouter:
    """``GET /leader`` at the root, where the Chronos docs put it, and ``GET /ping``."""
    router = APIRouter(tags=["chronos"], route_class=ChronosRoute)
    router.add_api_route("/leader", leader, methods=["GET"], name="chronos_leader")
    router.add_api_route("/ping", ping, methods=["GET"], name="chronos_ping", response_class=PlainTextResponse)
    return router


routers: list[APIRouter] = [
    chronos_router("/v1/scheduler"),
    chronos_router("/scheduler", include_in_schema=False),
    leader_router(),
]
"""What the app mounts: the Chronos API under both prefixes, and the root ``/leader``."""
