"""The Chronos v1 REST API, so Chronos clients and scripts work against moroccron unchanged.

Every route is served under ``/v1/scheduler`` and under ``/scheduler`` (the prefix of
older Chronos releases, which some clients still use; left out of the OpenAPI document
to keep it readable), and ``GET /leader`` at the root as Chronos served it.
The app mounts :data:`routers`.

What differs from Chronos, on purpose:

- **Validation errors** are 400 in moroccron's JSON error format, naming the Chronos
  field (``scheduleTimeZone``, ``cpus``), rather than a bare exception message.
- **Unknown and ignored fields** are accepted; their names come back in the
  ``X-Moroccron-Ignored-Fields`` response header (see :mod:`moroccron.api.chronos_schema`).
- **Deleting a job other jobs depend on** is refused with 409 naming the children, as
  the native API does, unless ``?cascade=true`` deletes the whole subtree. Chronos
  instead re-attached the children to the deleted job's parents, or turned them into
  scheduled jobs with its schedule: a silent change of what runs when, which a
  deletion request should not make.
- **Search** ANDs its filters (``any`` matches the name or the command); Chronos let
  ``any`` only widen a ``name``/``command`` search, and ignored it alone.
- **Statistics** are over the job's last :data:`STATS_WINDOW` successful runs, read
  from the run history: durations in seconds, ``mean`` a real mean (Chronos reported
  the median under that name). ``/stats/<percentile>`` reads each job's runs in turn.
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
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import PlainTextResponse

from moroccron.api.chronos_schema import from_chronos, owner_names, to_chronos, translate
from moroccron.api.deps import AppContext, ContextDep, caller, require_scheduler
from moroccron.api.errors import _body as error_body
from moroccron.api.jobs import delete as delete_native
from moroccron.api.jobs import reveals, write_job
from moroccron.bounds import MAX_OFFSET
from moroccron.dag import DependencyGraph
from moroccron.errors import FieldError, ValidationError
from moroccron.events import KillRequested, MarkSuccess, RunRequested, SaveRun
from moroccron.masking import mask_env
from moroccron.model import JobSpec, Run, RunState, run_argument_line, run_arguments
from moroccron.store.stats import JobStats, percentile

__all__ = ["IGNORED_HEADER", "PERCENTILES", "STATS_WINDOW", "chronos_router", "leader_router", "routers"]

IGNORED_HEADER = "X-Moroccron-Ignored-Fields"
"""Response header listing the job-hash fields that were accepted but not acted on."""

STATS_WINDOW = 100
"""How many of a job's most recent runs the Chronos statistics are over."""

PERCENTILES: dict[str, float | None] = {
    "99thPercentile": 99, "98thPercentile": 98, "95thPercentile": 95, "75thPercentile": 75,
    "median": 50, "mean": None,
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
    states = {r.state for r in runs}
    if any(s.live for s in states):
        return "running"
    # A waiting run (due, its parents not done) is the nearest thing to Chronos's queue.
    if states & {RunState.QUEUED, RunState.WAITING}:
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


def _histogram(durations: Sequence[float]) -> dict[str, float | int]:
    out: dict[str, float | int] = {}
    for key, q in PERCENTILES.items():
        if not durations:
            out[key] = 0.0
        elif q is None:
            out[key] = sum(durations) / len(durations)
        else:
            out[key] = percentile(durations, q) or 0.0
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
        "taskId": run.task_id, "jobName": run.job, "slaveId": run.agent_id or "",
        "startTime": _chronos_clock(run.started_at or run.launched_at), "endTime": _chronos_clock(run.finished_at),
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
            raise ValidationError.single("arguments", f"cannot be split into words: {exc}", line,
                                         "words as a shell reads them, with matched quotes") from None
        return RunRequested(job.name, run_arguments(words) or None)
    except ValidationError as exc:
        raise _bad_request(exc) from None


# --------------------------------------------------------------------------- jobs


def _save(ctx: AppContext, body: Any, kind: Literal["schedule", "parents"]) -> Response:
    """Create or replace a job from a Chronos job hash (Chronos replaced on every POST)."""
    errors: list[FieldError] = []
    if kind == "schedule" and isinstance(body, dict) and not body.get("schedule"):
        errors.append(FieldError("schedule", "is required for a scheduled job (use /dependency for a job with "
                                 "parents)", body.get("schedule"), "an ISO 8601 repeating interval such as "
                                 "R/2026-01-01T00:00:00Z/PT1H, or a cron expression"))
    if kind == "parents" and isinstance(body, dict) and not body.get("parents"):
        errors.append(FieldError("parents", "is required for a dependent job (use /iso8601 for a scheduled job)",
                                 body.get("parents"), "a non-empty list of job names"))
    try:
        parsed = from_chronos(body)
    except ValidationError as exc:
        raise _bad_request(ValidationError(errors + exc.errors, exc.prefix)) from None
    job = parsed.job
    if errors:
        raise _bad_request(ValidationError(errors, f"job {job.name!r}"))
    # Checked and written under the job-graph lock; masked env values sent back keep
    # the stored ones (a sync script that read the job and posts it again).
    write_job(ctx, job.name, lambda current: job.to_dict(),
              translate=lambda exc: _bad_request(translate(exc, job.name)))
    return Response(status_code=204, headers=_ignored_header(parsed.ignored))


def _job_hash(job: JobSpec, stats: JobStats | None, names: dict[str, str], reveal: bool) -> dict[str, Any]:
    """:func:`to_chronos`, with the env values the caller may not see masked."""
    out = to_chronos(job, stats, names)
    out["environmentVariables"] = [{"name": k, "value": v}
                                   for k, v in mask_env(job.env, job.secret_env, reveal).items()]
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


def search_jobs(request: Request, ctx: ContextDep, name: str | None = None, command: str | None = None,
                any: str | None = None, limit: int = Query(10, ge=0, le=MAX_OFFSET),
                offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> list[dict[str, Any]]:
    """Jobs whose name and command contain the terms given, case-insensitive.

    ``any`` matches the name or the command. ``limit`` defaults to 10, as in Chronos.
    """
    def has(text: str | None, term: str | None) -> bool:
        return not term or term.lower() in (text or "").lower()

    # The store's text search (name, description and command) narrows the candidates in
    # SQL; the exact per-field rules are applied to those only.
    terms = [t for t in (name, command, any) if t]
    if terms:
        candidates, _ = ctx.store.list_jobs(q=max(terms, key=len), limit=1_000_000)
    else:
        candidates = ctx.store.all_jobs()
    found = [j for j in candidates
             if has(j.name, name) and has(j.command, command) and (has(j.name, any) or has(j.command, any))]
    page = found[offset:offset + limit]
    stats = ctx.store.all_job_stats(window=STATS_WINDOW, names=[j.name for j in page]) if page else {}
    names = owner_names(ctx.store.list_owners()) if page else {}
    reveal = reveals(request)
    return [_job_hash(job, stats.get(job.name), names, reveal) for job in page]


def summary(ctx: ContextDep) -> dict[str, Any]:
    """What the Chronos UI's job list shows: last status, current state, schedule."""
    stats = ctx.store.all_job_stats(window=STATS_WINDOW)
    state = _states(ctx)
    return {"jobs": [{"name": j.name, "status": _last_status(stats.get(j.name)), "state": state(j.name),
                      "schedule": j.schedule or "", "parents": list(j.parents), "disabled": j.disabled}
                     for j in ctx.store.all_jobs()]}


def start_job(ctx: ContextDep, name: str,
              arguments: Annotated[list[str] | None,
                                   Query(description="added to the command line as is")] = None) -> Response:
    """Start the job now; ``arguments`` is added to its command line (see :func:`_start_request`).

    A disabled job is not started (Chronos never ran it): 409 says so, where Chronos
    answered 204 and dropped the run unseen.
    """
    job = ctx.store.get_job(name)
    if job.disabled:
        raise HTTPException(409, error_body(f"job {name!r} was not started: it is disabled, and a disabled job "
                                            "never runs, not even when started by hand (enable it first)"))
    actions = require_scheduler(ctx).submit(_start_request(job, arguments))
    skipped = [a.run for a in actions if isinstance(a, SaveRun) and a.new and a.run.job == name
               and a.run.state == RunState.SKIPPED]
    if skipped:
        raise HTTPException(409, error_body(f"job {name!r} was not started: {skipped[0].reason}"))
    return Response(status_code=204)


def delete(ctx: ContextDep, name: str, cascade: bool = False) -> Response:
    """Delete the job: the native rule (409 while others depend on it, unless ``cascade``)."""
    delete_native(ctx, name, cascade)
    return Response(status_code=204)


def mark_success(ctx: ContextDep, name: str) -> bool:
    """Record the job as succeeded without running it, so its children run; true if recorded."""
    ctx.store.get_job(name)
    actions = require_scheduler(ctx).submit(MarkSuccess(name))
    return any(isinstance(a, SaveRun) and a.run.job == name for a in actions)


def kill_tasks(request: Request, ctx: ContextDep, name: str) -> Response:
    """Kill every live task of the job (queued runs are dropped)."""
    ctx.store.get_job(name)
    require_scheduler(ctx).submit(KillRequested(name, by=caller(request)))
    return Response(status_code=204)


def job_stat(ctx: ContextDep, name: str) -> dict[str, Any]:
    """Duration histogram (seconds) and recent task history of one job."""
    ctx.store.get_job(name)
    runs, _ = ctx.store.list_runs(name, limit=STATS_WINDOW)
    history = [_task_stat(r) for r in runs if r.launched_at is not None or r.started_at is not None]
    return {"histogram": _histogram(_durations(ctx, name)), "taskStatHistory": history}


def graph_dot(ctx: ContextDep) -> PlainTextResponse:
    """The dependency graph as a Graphviz dot file."""
    return PlainTextResponse(DependencyGraph.from_jobs(ctx.store.all_jobs()).to_dot())


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
    """Every job with successful runs and its ``percentile_name`` duration, longest first."""
    if percentile_name not in PERCENTILES:
        raise _bad_request(ValidationError.single("percentile", "unknown statistic", percentile_name,
                                                  " | ".join(PERCENTILES)))
    rows = []
    for job in ctx.store.all_jobs():
        durations = _durations(ctx, job.name)
        if durations:
            rows.append({"jobNameLabel": job.name, "time": _histogram(durations)[percentile_name]})
    rows.sort(key=lambda row: (-row["time"], row["jobNameLabel"]))
    return rows


def leader(ctx: ContextDep) -> dict[str, str]:
    """``{"leader": "host:port"}`` of the leader ("" if none is known)."""
    return {"leader": ctx.leader_address() or ""}


# --------------------------------------------------------------------------- routers

_ROUTES: tuple[tuple[str, Callable[..., Any], tuple[str, ...], dict[str, Any]], ...] = (
    ("/iso8601", create_scheduled, ("POST", "PUT"), {"status_code": 204}),
    ("/dependency", create_dependent, ("POST", "PUT"), {"status_code": 204}),
    ("/jobs", list_jobs, ("GET",), {}),
    ("/jobs/search", search_jobs, ("GET",), {}),
    ("/jobs/summary", summary, ("GET",), {}),
    ("/job/success/{name}", mark_success, ("POST", "PUT"), {}),
    ("/job/stat/{name}", job_stat, ("GET",), {}),
    ("/job/{name}", start_job, ("PUT",), {"status_code": 204}),
    ("/job/{name}", delete, ("DELETE",), {"status_code": 204}),
    ("/task/kill/{name}", kill_tasks, ("DELETE",), {"status_code": 204}),
    ("/graph/dot", graph_dot, ("GET",), {"response_class": PlainTextResponse}),
    ("/graph/csv", graph_csv, ("GET",), {"response_class": PlainTextResponse}),
    ("/stats/{percentile_name}", stats, ("GET",), {}),
    ("/leader", leader, ("GET",), {}),
)


def chronos_router(prefix: str, *, include_in_schema: bool = True) -> APIRouter:
    """Every Chronos route under ``prefix``. One route per method, so that each has an
    OpenAPI operation id of its own."""
    router = APIRouter(prefix=prefix, tags=["chronos"])
    slug = prefix.strip("/").replace("/", "_")
    for path, endpoint, methods, options in _ROUTES:
        for method in methods:
            router.add_api_route(path, endpoint, methods=[method], include_in_schema=include_in_schema,
                                 name=f"{slug}_{endpoint.__name__}_{method.lower()}", **options)
    return router


def leader_router() -> APIRouter:
    """``GET /leader`` at the root, where the Chronos docs put it."""
    router = APIRouter(tags=["chronos"])
    router.add_api_route("/leader", leader, methods=["GET"], name="chronos_leader")
    return router


routers: list[APIRouter] = [
    chronos_router("/v1/scheduler"),
    chronos_router("/scheduler", include_in_schema=False),
    leader_router(),
]
"""What the app mounts: the Chronos API under both prefixes, and the root ``/leader``."""
