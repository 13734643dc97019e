"""The job pages: the list (with its live fragment), a job, the new-job and edit forms, and
the buttons on a job (run now, enable, disable, delete, ...)."""

from __future__ import annotations

import json
import math
import urllib.parse
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from moroccron.api import jobs as api_jobs
from moroccron.api import runs as api_runs
from moroccron.api.deps import AppContext, caller
from moroccron.errors import FieldError, MoroccronError, NotFound, ValidationError
from moroccron.masking import mask_env, mask_job
from moroccron.model import (
    JobSpec,
    Run,
    RunState,
)
from moroccron.store.store import JOB_STATES
from moroccron.ui.pages import (
    MAX_PAGE,
    PAGE_SIZE,
    Page,
    PageRoute,
    _duration,
    back,
    describe,
    outcome,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False, route_class=PageRoute)


@router.get("/")
def home(request: Request) -> RedirectResponse:
    """The job list, with whatever was asked of it (``/?q=backup`` is ``/jobs?q=backup``)."""
    query = request.url.query
    return RedirectResponse("/jobs" + (f"?{query}" if query else ""), status_code=303)


def _job_rows(ctx: AppContext, params: Any) -> dict[str, Any]:
    q = params.get("q") or None
    owner = params.get("owner") or None
    state = params.get("state") or None
    label = (params.get("label") or "").strip() or None
    label_error = None
    by_label = None
    if label:
        key, sep, value = label.partition("=")
        if sep and key.strip():
            by_label = (key.strip(), value.strip())
        else:
            label_error = "a label filter is KEY=VALUE, e.g. team=data"
    try:
        page_no = max(1, int(params.get("page") or 1))
    except ValueError:
        page_no = 1
    if page_no > MAX_PAGE:  # the offset would overflow SQL's 64-bit OFFSET
        raise ValidationError(
            FieldError(
                "page", "is past any page there could be", params.get("page"), f"a page number from 1 to {MAX_PAGE}"
            )
        )
    state_error = None
    if state is not None and state not in JOB_STATES:
        state_error = f"unknown job state {state!r}: pick one of {', '.join(JOB_STATES)}"
        state = None
    jobs, total = ctx.store.list_jobs(
        owner=owner, q=q, label=by_label, state=state, offset=(page_no - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    overview = ctx.store.job_overview([j.name for j in jobs])
    rows = []
    for job in jobs:
        nxt, last = overview.get(job.name, (None, None))
        rows.append(
            {
                "job": job,
                "words": describe(job),
                "next": None if job.disabled else nxt,
                "last": last,
                "outcome": outcome(last),
            }
        )
    pages = max(1, math.ceil(total / PAGE_SIZE))
    query = {k: v for k, v in (("q", q), ("owner", owner), ("state", state), ("label", label)) if v}
    return {
        "rows": rows,
        "total": total,
        "page_no": page_no,
        "pages": pages,
        "q": q or "",
        "owner": owner or "",
        "state": state or "",
        "label": label or "",
        "label_error": label_error,
        "state_error": state_error,
        "filtered": bool(query),
        "query": urllib.parse.urlencode(query),
        "tabs": [(value, text, _tab_url(query, value)) for value, text in STATE_TABS],
    }


STATE_TABS = (
    ("", "all"),
    ("failed", "failing"),
    ("running", "running"),
    ("disabled", "disabled"),
    ("enabled", "enabled"),
    ("quarantined", "quarantined"),
)
"""The job list's state tabs: (the ``state`` parameter, its label)."""


def _tab_url(query: dict[str, str], state: str) -> str:
    """The job list with the same search, owner and label filters, in ``state`` (first page)."""
    params = {k: v for k, v in query.items() if k != "state"}
    if state:
        params["state"] = state
    return "/jobs" + (f"?{urllib.parse.urlencode(params)}" if params else "")


@router.get("/jobs")
def jobs_page(request: Request) -> HTMLResponse:
    page = Page(request)
    return page.render("jobs.html", **_job_rows(page.ctx, request.query_params))


@router.get("/ui/fragments/jobs")
def jobs_fragment(request: Request) -> HTMLResponse:
    page = Page(request)
    return page.render("_job_rows.html", **_job_rows(page.ctx, request.query_params))


FORM_FIELDS = (
    "name",
    "command",
    "schedule",
    "timezone",
    "parents",
    "owners",
    "cpus",
    "mem",
    "retries",
    "retry_delay_seconds",
    "timeout_seconds",
    "concurrency",
    "catchup",
    "description",
    "labels",
    "env",
    "secret_env",
)


def _form_values(job: JobSpec | None, reveal: bool = True) -> dict[str, str]:
    if job is None:
        return {
            "timezone": "UTC",
            "cpus": "0.1",
            "mem": "32",
            "retries": "0",
            "concurrency": "forbid",
            "catchup": "latest",
        }
    values = {
        "name": job.name,
        "command": job.command or "",
        "schedule": job.schedule or "",
        "timezone": job.timezone,
        "parents": ", ".join(job.parents),
        "owners": ", ".join(job.owners),
        "cpus": f"{job.resources.cpus:g}",
        "mem": f"{job.resources.mem:g}",
        "retries": str(job.retries),
        "retry_delay_seconds": f"{job.retry_delay_seconds:g}",
        "concurrency": job.concurrency,
        "catchup": job.catchup,
        "description": job.description or "",
        "labels": ", ".join(f"{k}={v}" for k, v in sorted(job.labels.items())),
        "timeout_seconds": f"{job.timeout_seconds:g}" if job.timeout_seconds else "",
        # Hidden values come as the mask; posted back unchanged, the stored value stays.
        "env": "\n".join(f"{k}={v}" for k, v in mask_env(job.env, job.secret_env, reveal).items()),
        "secret_env": ", ".join(job.secret_env),
    }
    return values


def _number(text: str) -> Any:
    try:
        value = float(text)
    except ValueError:
        return text  # JobSpec names the field and what it allows
    return int(value) if value.is_integer() else value


def _spec_body(form: dict[str, str], base: dict[str, Any]) -> dict[str, Any]:
    """A JobSpec body from the form, over ``base`` (the job's other fields, when editing)."""
    body = dict(base)
    for key in ("name", "command", "schedule", "timezone", "description"):
        body[key] = form.get(key, "").strip() or None
    body["timezone"] = body["timezone"] or "UTC"
    for key in ("parents", "owners"):
        body[key] = [p for p in form.get(key, "").replace(",", " ").split() if p]
    resources = dict(base.get("resources") or {})
    for key in ("cpus", "mem"):
        if form.get(key, "").strip():
            resources[key] = _number(form[key].strip())
    body["resources"] = resources
    for key in ("retries", "retry_delay_seconds", "timeout_seconds"):
        text = form.get(key, "").strip()
        if text:
            body[key] = _number(text)
        elif key == "timeout_seconds":
            body[key] = None
    for key in ("concurrency", "catchup"):
        if form.get(key):
            body[key] = form[key]
    if "labels" in form:
        body["labels"] = _labels(form["labels"])
    if "env" in form:
        body["env"] = _env(form["env"])
    if "secret_env" in form:
        body["secret_env"] = [k for k in form["secret_env"].replace(",", " ").split() if k]
    return body


def _env(text: str) -> dict[str, str]:
    """One ``KEY=VALUE`` a line (a value may hold ``=`` and spaces) -> a dict."""
    env: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValidationError(FieldError("env", "each line is KEY=VALUE", line, "e.g. DB_HOST=db.example.com"))
        env[key.strip()] = value
    return env


def _labels(text: str) -> dict[str, str]:
    """``team=data, tier=2`` -> a dict; a pair without ``=`` is a field error by the input."""
    labels: dict[str, str] = {}
    for pair in (p.strip() for p in text.split(",")):
        if not pair:
            continue
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValidationError(FieldError("labels", "each label is KEY=VALUE", pair, "e.g. team=data, tier=2"))
        labels[key.strip()] = value.strip()
    return labels


def _field_errors(exc: ValidationError) -> dict[str, str]:
    """Errors by form field: ``resources.cpus`` shows next to ``cpus``; others at the top."""
    out: dict[str, str] = {}
    for err in exc.errors:
        field = err.field.split(".")[-1] if err.field.startswith("resources.") else err.field.split(".")[0]
        field = field.split("[")[0]
        key = field if field in FORM_FIELDS else "_form"
        text = err.message + (f" (allowed: {err.allowed})" if err.allowed else "")
        out[key] = f"{out[key]}; {text}" if key in out else text
    return out


@router.get("/new-job")
def new_job_page(request: Request) -> HTMLResponse:
    return Page(request).render("form.html", values=_form_values(None), errors={}, editing=None)


@router.post("/new-job", response_model=None)
async def create_job(request: Request) -> Response:
    page = Page(request)
    form = await page.form()
    try:
        body = _spec_body(form, {})
        if page.ctx.store.parent_map([body.get("name") or ""]):
            raise ValidationError(
                FieldError("name", "a job with this name exists already", body["name"], "a new name, or edit that job")
            )
        api_jobs.create(page.ctx, body)
    except ValidationError as exc:
        return page.render("form.html", code=422, values=form, errors=_field_errors(exc), editing=None)
    return back(f"/jobs/{urllib.parse.quote(body['name'])}", f"job {body['name']} created")


@router.get("/jobs/{name}/edit")
def edit_job_page(request: Request, name: str) -> HTMLResponse:
    page = Page(request)
    job = page.ctx.store.get_job(name)
    return page.render("form.html", values=_form_values(job, page.can_write), errors={}, editing=job)


@router.post("/jobs/{name}/edit", response_model=None)
async def edit_job(request: Request, name: str) -> Response:
    page = Page(request)
    form = await page.form()
    job = page.ctx.store.get_job(name)
    form["name"] = name
    try:
        body = _spec_body(form, job.to_dict())
        api_jobs.patch(page.ctx, name, body)
    except ValidationError as exc:
        return page.render("form.html", code=422, values=form, errors=_field_errors(exc), editing=job)
    return back(f"/jobs/{urllib.parse.quote(name)}", "saved")


def _chart(runs: list[Run]) -> dict[str, Any]:
    """Bars of run duration, a line of launch skew, oldest first, scaled to the largest."""
    runs = [r for r in reversed(runs) if r.state != RunState.SKIPPED][-40:]
    width, height = 600, 120
    top = max([r.duration or 0 for r in runs] + [0.001])
    top_skew = max([r.skew or 0 for r in runs] + [0.001])
    step = width / max(len(runs), 20)  # a few runs make narrow bars, not one wide block
    bars, points = [], []
    for i, r in enumerate(runs):
        h = (r.duration or 0) / top * (height - 20)
        bars.append(
            {
                "x": i * step + 1,
                "y": height - h,
                "w": max(step - 2, 1),
                "h": h,
                "cls": outcome(r),
                "title": f"{r.task_id}: {r.state.value}, {_duration(r.duration)}, skew {(r.skew or 0) * 1000:.0f} ms",
            }
        )
        points.append((round(i * step + step / 2, 1), round(height - (r.skew or 0) / top_skew * (height - 20), 1)))
    return {
        "width": width,
        "height": height,
        "bars": bars,
        "dots": points,
        "skew": " ".join(f"{x},{y}" for x, y in points),
        "top": _duration(top),
        "top_skew": _duration(max([r.skew or 0 for r in runs] + [0])),
    }


def _job_detail(ctx: AppContext, name: str, reveal: bool) -> dict[str, Any]:
    job = ctx.store.get_job(name)
    runs, total = ctx.store.list_runs(name, limit=50)
    stats = ctx.store.job_stats(name)
    nxt, _ = ctx.store.job_overview([name])[name]
    quarantined = ctx.store.job_errors([name]).get(name)
    return {
        "job": job,
        "words": describe(job),
        "runs": runs,
        "total_runs": total,
        "stats": stats,
        "quarantined": quarantined,
        "next": None if job.disabled or quarantined else nxt,
        "chart": _chart(runs),
        "outcome": outcome,
        "spec": json.dumps(mask_job(job.to_dict(), reveal), indent=2),
        "live": any(r.state.live or r.state == RunState.QUEUED for r in runs),
        "children": ctx.store.children_of(name),
        "confirmed": ctx.scheduler.snapshot.confirmed if ctx.scheduler is not None else {},
    }


@router.get("/jobs/{name}")
def job_page(request: Request, name: str) -> HTMLResponse:
    page = Page(request)
    return page.render("job.html", **_job_detail(page.ctx, name, page.can_write))


@router.get("/ui/fragments/job/{name}")
def job_fragment(request: Request, name: str) -> HTMLResponse:
    page = Page(request)
    return page.render("_job_runs.html", **_job_detail(page.ctx, name, page.can_write))


@router.post("/jobs/{name}/{action}", response_model=None)
async def job_action(request: Request, name: str, action: str) -> Response:
    page = Page(request)
    await page.form()
    ctx = page.ctx
    url = f"/jobs/{urllib.parse.quote(name)}"
    try:
        if action == "run":
            run = api_runs.start_run_as(ctx, name, None, caller(request))
            return back(url, f"started {run['task_id']}")
        if action == "kill":
            api_runs.kill_job_runs(ctx, name, page.principal.name)
            return back(url, "killing its running tasks")
        if action in ("enable", "disable"):
            api_jobs.set_disabled(ctx, name, action == "disable")
            return back(url, f"{action}d")
        if action == "delete":
            api_jobs.delete(ctx, name, cascade=False)
            return back("/jobs", f"job {name} deleted")
    except HTTPException as exc:
        detail = exc.detail.get("error") if isinstance(exc.detail, dict) else exc.detail
        return back(url, f"{action} failed: {detail}", error=True)
    except NotFound:
        raise
    except MoroccronError as exc:
        return back(url, f"{action} failed: {exc}", error=True)
    raise HTTPException(404, f"no action {action!r}")
