"""The run pages: one run of a job, from the moment it was due to the notifications about it,
and its log (``/runs/TASK/log``).

``/runs/TASK`` is where every notification links (``Renderer.build`` in moroccron.notify),
and the job page's run list too; ``/jobs/JOB/runs/TASK``, the form older messages carry,
redirects here. The page reads the store, as the other pages do; while the run is live its
script (``static/run.js``) reloads the page's sections and follows stdout and stderr through
the API (``GET /api/v1/runs/TASK/stdout?offset=N``), and stops once the run has ended.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from moroccron.api import runs as api_runs
from moroccron.api.deps import AppContext
from moroccron.api.runs import confirmations
from moroccron.api.schemas import notification_dict
from moroccron.errors import MoroccronError, NotFound
from moroccron.model import JobSpec, Run, RunTrigger
from moroccron.ui.pages import Page, PageRoute, back, outcome, reason_words

__all__ = ["router", "run_detail"]

router = APIRouter(include_in_schema=False, route_class=PageRoute)


@dataclass(frozen=True, slots=True)
class Step:
    """One moment of the run's timeline; ``at`` is None for a moment it has not reached."""

    key: str
    label: str
    at: datetime | None
    note: str = ""


def timeline(run: Run, confirmed: datetime | None) -> list[Step]:
    """Every moment the run record holds, in the order a run goes through them."""
    if run.due_at == run.scheduled_at:
        due_note = "the fire time it runs for; launch skew is measured from here"
    else:
        due_note = (
            f"asked for then ({run.trigger.value}), for the fire time "
            f"{run.scheduled_at:%Y-%m-%d %H:%M:%S} UTC; launch skew is measured from here"
        )
    return [
        Step("due", "due", run.due_at, due_note),
        Step("queued", "queued", run.queued_at, "created, waiting for resources"),
        Step("offered", "offered", run.offered_at, "the master offered the resources it launched on"),
        Step("launched", "launched", run.launched_at, "handed to Mesos"),
        Step("started", "started", run.started_at, "TASK_RUNNING"),
        Step("finished", "finished", run.finished_at, run.state.value if run.state.final else ""),
        Step(
            "confirmed",
            "confirmed by the master",
            confirmed,
            "the master last spoke of its task" if confirmed else "known to the leader for live runs only",
        ),
    ]


def why(run: Run) -> dict[str, str]:
    """What to tell a person about how the run ended: the human message, and the Mesos reason
    code beside it when the record holds one."""
    code = run.reason if run.reason and run.reason.startswith("REASON_") else ""
    parts = [p for p in (run.message, None if code else run.reason) if p]
    text = " · ".join(dict.fromkeys(parts)) or reason_words(code)
    return {"text": text, "code": code}


def started_by(run: Run) -> dict[str, Any]:
    """Who or what started the run: words, and the run that caused it (a task id) when there is one."""
    by = run.requested_by
    words = {
        RunTrigger.SCHEDULE: "the scheduler, on the job's schedule",
        RunTrigger.CATCHUP: "the scheduler, catching up a time missed while it was down",
        RunTrigger.DEPENDENCY: "a dependency: its parent's run succeeded",
        RunTrigger.MANUAL: f"{by}, on request (API, UI or CLI)" if by else "a request (API, UI or CLI)",
        RunTrigger.TRIGGER: "a trigger of another job's run",
        RunTrigger.RETRY: "the scheduler, retrying a failed attempt",
        RunTrigger.MARK_SUCCESS: f"{by}, marking it as succeeded" if by else "a request marking it as succeeded",
        RunTrigger.RELAUNCH: "the scheduler, relaunching an attempt whose task never started",
    }[run.trigger]
    cause = run.caused_by if run.caused_by and run.caused_by.count(".") >= 2 else None
    return {"words": words, "cause": cause, "by": by}


def attempt_text(run: Run, job: JobSpec | None) -> str:
    """1-based: "attempt 2 of 4" (retries plus the relaunches of tasks the master dropped)."""
    if job is None:
        return f"attempt {run.attempt + 1}"
    return f"attempt {run.attempt + 1} of {job.retries + 1 + run.relaunches}"


def run_detail(ctx: AppContext, task_id: str) -> dict[str, Any]:
    run = ctx.store.get_run_by_task_id(task_id)
    try:
        job: JobSpec | None = ctx.store.get_job(run.job)
    except NotFound:  # the run outlives a deleted job
        job = None
    confirmed = confirmations(ctx).get(task_id)
    attempts = ctx.store.attempts_of(run.job, run.scheduled_at)
    notes = [notification_dict(n) for n in ctx.store.notifications(task_id=task_id)]
    return {
        "run": run,
        "job": job,
        "outcome": outcome,
        "steps": timeline(run, confirmed),
        "why": why(run),
        "started": started_by(run),
        "attempt": attempt_text(run, job),
        "attempts": attempts,
        "notifications": notes,
        "final": run.state.final,
        "live": run.state.live,
    }


@router.get("/runs/{task_id}")
def run_page(request: Request, task_id: str) -> HTMLResponse:
    page = Page(request)
    return page.render("run.html", **run_detail(page.ctx, task_id))


@router.post("/runs/{task_id}/kill", response_model=None)
async def kill_run(request: Request, task_id: str) -> Response:
    """Kill this run's task (a queued run ends at once); recorded as killed by the user."""
    page = Page(request)
    await page.form()
    url = f"/runs/{urllib.parse.quote(task_id, safe='')}"
    try:
        api_runs.kill_run(request, page.ctx, task_id)
    except HTTPException as exc:
        detail = exc.detail.get("error") if isinstance(exc.detail, dict) else exc.detail
        return back(url, f"kill failed: {detail}", error=True)
    except NotFound:
        raise
    except MoroccronError as exc:
        return back(url, f"kill failed: {exc}", error=True)
    return back(url, "killing its task")


@router.get("/jobs/{name}/runs/{task_id}")
def old_run_link(request: Request, name: str, task_id: str) -> RedirectResponse:
    """The link form notifications carried before the run page (``/jobs/JOB/runs/TASK``)."""
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"/runs/{urllib.parse.quote(task_id, safe='')}{query}", status_code=307)


@router.get("/runs/{task_id}/log")
def log_page(request: Request, task_id: str) -> HTMLResponse:
    page = Page(request)
    stream = request.query_params.get("stream", "stdout")
    run = page.ctx.store.get_run_by_task_id(task_id)
    error, data = None, ""
    try:
        data = api_runs.read_log(
            page.ctx, task_id, stream if stream in ("stdout", "stderr") else "stdout", -1, 1 << 20
        )["data"]
    except HTTPException as exc:
        error = exc.detail.get("error") if isinstance(exc.detail, dict) else exc.detail
    except MoroccronError as exc:
        error = str(exc)
    return page.render("log.html", run=run, stream=stream, data=data, error=error)
