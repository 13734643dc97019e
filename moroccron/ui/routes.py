"""The web UI: server-rendered pages (Jinja2, autoescaped), a little JavaScript for live updates.

Pages read the same store the API does, a page at a time (a list page costs the same
at 10,000 jobs as at 10), and actions call the API's own handlers, so the UI can do
nothing the API would refuse. Forms post URL-encoded bodies with a CSRF token (see
:mod:`moroccron.ui.session`); read-only users are shown no buttons that change
anything, and their POSTs are refused by the auth middleware anyway.
"""

from __future__ import annotations

import json
import math
import re
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import requests
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from moroccron import __version__, channels
from moroccron.api import jobs as api_jobs
from moroccron.api import runs as api_runs
from moroccron.api.deps import AppContext, caller
from moroccron.api.owners import owner_from_body
from moroccron.api.ratelimit import client_address
from moroccron.auth import ANONYMOUS_ADMIN, AuthBusy, Principal
from moroccron.bounds import MAX_OFFSET
from moroccron.channels import NotifyChannel
from moroccron.dag import DependencyGraph
from moroccron.errors import Conflict, FieldError, MoroccronError, NotFound, ValidationError
from moroccron.masking import MASK, mask_env, mask_job
from moroccron.model import (
    DEFAULT_PREFERENCES,
    LEGACY_CONTACT_FIELDS,
    NOTIFY_EVENTS,
    JobSpec,
    Owner,
    Run,
    RunState,
)
from moroccron.schedule import parse_schedule
from moroccron.store.store import JOB_STATES
from moroccron.ui.graph import NODE_H, NODE_W, layout
from moroccron.ui.session import CSRF_COOKIE, SESSION_COOKIE, Sessions, cookies_of

__all__ = ["PAGE_SIZE", "UI_PUBLIC_PREFIXES", "mount"]

HERE = Path(__file__).parent
PAGE_SIZE = 50
MAX_PAGE = MAX_OFFSET // PAGE_SIZE
GRAPH_LIMIT = 500
UI_PUBLIC_PREFIXES = ("/login", "/ui/static/")
FAILED = {RunState.FAILED, RunState.LOST, RunState.KILLED}

env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                  trim_blocks=True, lstrip_blocks=True)


def _when(dt: datetime | None) -> str:
    if dt is None:
        return ""
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _ago(dt: datetime | None) -> str:
    if dt is None:
        return ""
    seconds = (datetime.now(UTC) - dt).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            text = f"{int(seconds // size)}{unit}"
            break
    else:
        text = f"{int(seconds)}s"
    return f"in {text}" if future else f"{text} ago"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


REASON_CODE = re.compile(r"REASON_[A-Z0-9_]+")


def why(run: Run) -> str:
    """Why a run ended as it did, for a person: the scheduler's own reason and the message
    the agent or master sent. A Mesos reason code (``REASON_CONTAINER_LAUNCH_FAILED``) is
    not shown as such: the page keeps it in a tooltip, and it is put in words only when no
    message came with it."""
    reason = run.reason or ""
    code = REASON_CODE.fullmatch(reason) is not None
    parts = [p for p in dict.fromkeys([reason if not code else "", run.message or ""]) if p.strip()]
    if parts:
        return ": ".join(parts)
    if code:
        return reason.removeprefix("REASON_").replace("_", " ").lower()
    return ""


env.filters.update(when=_when, ago=_ago, duration=_duration, why=why)
env.globals["mask"] = MASK


def describe(job: JobSpec) -> str:
    if job.schedule:
        try:
            return parse_schedule(job.schedule, job.timezone).describe()
        except MoroccronError:
            return job.schedule
    if job.parents:
        return "after " + ", ".join(job.parents)
    return "on demand"


def outcome(run: Run | None) -> str:
    """A CSS class and label for a run's state: succeeded, failed, running, queued, skipped, never."""
    if run is None:
        return "never"
    if run.state in FAILED:
        return "failed"
    if run.state.live:
        return "running"
    return run.state.value


# ---------------------------------------------------------------------------- plumbing


class Page:
    """What every page knows: the request, who is looking, and the CSRF token for its forms."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.ctx: AppContext = request.app.state.context
        self.sessions: Sessions = request.app.state.sessions
        self.cookies = cookies_of(request.scope)
        self.new_csrf = None if self.cookies.get(CSRF_COOKIE) else Sessions.new_csrf_cookie()
        if self.new_csrf:
            self.cookies[CSRF_COOKIE] = self.new_csrf
        self.principal: Principal = request.scope.get("state", {}).get("principal") or (
            ANONYMOUS_ADMIN if not self.auth_on else Principal("nobody", "read", "anonymous"))

    @property
    def auth_on(self) -> bool:
        return self.ctx.auth is not None and self.ctx.auth.enabled

    @property
    def can_write(self) -> bool:
        return self.principal.can("write")

    def render(self, template: str, code: int = 200, **values: Any) -> HTMLResponse:
        ctx = self.ctx
        values.update(
            page=self, version=__version__, csrf=self.sessions.csrf_token(self.cookies), can_write=self.can_write,
            user=self.principal if self.auth_on and self.principal.via != "anonymous" else None, message=self.request.query_params.get("msg"),
            message_is_error=self.request.query_params.get("err") == "1",
            standby=ctx.scheduler is None, leader=ctx.leader_address() if ctx.scheduler is None else None,
            nav=template.split(".")[0])
        response = HTMLResponse(env.get_template(template).render(**values), status_code=code)
        if self.new_csrf:
            response.set_cookie(CSRF_COOKIE, self.new_csrf, **self.sessions.cookie_options())
        return response

    async def form(self) -> dict[str, str]:
        """The URL-encoded body; a missing or wrong CSRF token is a 403."""
        body = (await self.request.body()).decode("utf-8", "replace")  # browsers percent-encode; others may not
        fields = {k: v[-1] for k, v in urllib.parse.parse_qs(body, keep_blank_values=True).items()}
        if not self.sessions.csrf_ok(cookies_of(self.request.scope), fields.get("csrf")):
            raise HTTPException(403, "the form's CSRF token is missing or wrong: reload the page and try again")
        return fields


def back(url: str, message: str, error: bool = False) -> RedirectResponse:
    sep = "&" if "?" in url else "?"
    flag = "&err=1" if error else ""
    return RedirectResponse(f"{url}{sep}msg={urllib.parse.quote(message)}{flag}", status_code=303)


ERROR_STATUS = ((NotFound, 404), (Conflict, 409), (ValidationError, 422), (MoroccronError, 400))


class PageRoute(APIRoute):
    """A UI route whose errors are pages: a person following a stale link, or posting a
    form from a page left open overnight, reads what went wrong and where to go, not JSON.
    (The API keeps its JSON errors: this class is only the UI router's.)"""

    def get_route_handler(self) -> Any:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except HTTPException as exc:
                detail = exc.detail.get("error") if isinstance(exc.detail, dict) else exc.detail
                return _error_page(request, exc.status_code, str(detail))
            except MoroccronError as exc:
                code = next(c for kind, c in ERROR_STATUS if isinstance(exc, kind))
                return _error_page(request, code, str(exc))

        return route


def _error_page(request: Request, code: int, message: str) -> Response:
    if request.url.path.startswith("/ui/fragments/"):
        return Response(message, status_code=code, media_type="text/plain")  # the poller keeps the old rows
    return Page(request).render("error.html", code=code, error_code=code, error=message)


router = APIRouter(include_in_schema=False, route_class=PageRoute)


# ---------------------------------------------------------------------------- login


@router.get("/login")
def login_page(request: Request) -> HTMLResponse:
    return Page(request).render("login.html", next=request.query_params.get("next", "/jobs"))


@router.post("/login", response_model=None)
async def login(request: Request) -> Response:
    page = Page(request)
    form = await page.form()
    auth = page.ctx.auth
    target = form.get("next") or "/jobs"
    if not target.startswith("/") or target.startswith("//"):
        target = "/jobs"  # never redirect off this site
    principal = None
    if auth is None or not auth.enabled:
        principal = ANONYMOUS_ADMIN
    else:
        limiter = request.app.state.auth_limiter
        address = client_address(request.scope, request.app.state.trusted_proxies)
        wait = limiter.retry_after(address)
        if wait:  # refused before the password is even looked at
            response = page.render("login.html", code=429, next=target,
                                   error=f"too many failed attempts from your address: try again in {wait} s")
            response.headers["retry-after"] = str(wait)
            return response
        try:
            if form.get("user"):
                principal = await auth.check_user_async(form["user"], form.get("password", ""))
            elif form.get("password"):
                principal = await auth.authenticate_async(f"Bearer {form['password']}")
        except AuthBusy:
            response = page.render("login.html", code=503, next=target, error="the server is busy: try again")
            response.headers["retry-after"] = "1"
            return response
        if principal is None:
            limiter.failed(address)
    if principal is None:
        return page.render("login.html", code=401, next=target, error="wrong user, password or token")
    principal = Principal(principal.name, principal.role, "session")
    cookie = await anyio.to_thread.run_sync(page.sessions.start, principal)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, cookie, **page.sessions.cookie_options())
    return response


@router.post("/logout")
async def logout(request: Request) -> RedirectResponse:
    """Any session may log out, a reader's too (the path is public: the CSRF token guards it).
    The session version is bumped, so the old cookie is refused even if replayed."""
    page = Page(request)
    await page.form()
    await anyio.to_thread.run_sync(page.sessions.end, page.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, **page.sessions.cookie_options())
    return response


# ---------------------------------------------------------------------------- jobs


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
        raise ValidationError(FieldError("page", "is past any page there could be", params.get("page"),
                                         f"a page number from 1 to {MAX_PAGE}"))
    state_error = None
    if state is not None and state not in JOB_STATES:
        state_error = f"unknown job state {state!r}: pick one of {', '.join(JOB_STATES)}"
        state = None
    jobs, total = ctx.store.list_jobs(owner=owner, q=q, label=by_label, state=state,
                                      offset=(page_no - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    overview = ctx.store.job_overview([j.name for j in jobs])
    rows = []
    for job in jobs:
        nxt, last = overview.get(job.name, (None, None))
        rows.append({"job": job, "words": describe(job), "next": None if job.disabled else nxt, "last": last,
                     "outcome": outcome(last)})
    pages = max(1, math.ceil(total / PAGE_SIZE))
    query = {k: v for k, v in (("q", q), ("owner", owner), ("state", state), ("label", label)) if v}
    return {"rows": rows, "total": total, "page_no": page_no, "pages": pages, "q": q or "", "owner": owner or "",
            "state": state or "", "label": label or "", "label_error": label_error, "state_error": state_error,
            "filtered": bool(query), "query": urllib.parse.urlencode(query),
            "tabs": [(value, text, _tab_url(query, value)) for value, text in STATE_TABS]}


STATE_TABS = (("", "all"), ("failed", "failing"), ("running", "running"), ("disabled", "disabled"),
              ("enabled", "enabled"), ("quarantined", "quarantined"))
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


FORM_FIELDS = ("name", "command", "schedule", "timezone", "parents", "owners", "cpus", "mem", "retries",
               "retry_delay_seconds", "timeout_seconds", "concurrency", "catchup", "description", "labels",
               "env", "secret_env")


def _form_values(job: JobSpec | None, reveal: bool = True) -> dict[str, str]:
    if job is None:
        return {"timezone": "UTC", "cpus": "0.1", "mem": "32", "retries": "0", "concurrency": "forbid",
                "catchup": "latest"}
    values = {"name": job.name, "command": job.command or "", "schedule": job.schedule or "",
              "timezone": job.timezone, "parents": ", ".join(job.parents), "owners": ", ".join(job.owners),
              "cpus": f"{job.resources.cpus:g}", "mem": f"{job.resources.mem:g}", "retries": str(job.retries),
              "retry_delay_seconds": f"{job.retry_delay_seconds:g}", "concurrency": job.concurrency,
              "catchup": job.catchup, "description": job.description or "",
              "labels": ", ".join(f"{k}={v}" for k, v in sorted(job.labels.items())),
              "timeout_seconds": f"{job.timeout_seconds:g}" if job.timeout_seconds else "",
              # Hidden values come as the mask; posted back unchanged, the stored value stays.
              "env": "\n".join(f"{k}={v}" for k, v in mask_env(job.env, job.secret_env, reveal).items()),
              "secret_env": ", ".join(job.secret_env)}
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
            raise ValidationError(FieldError("name", "a job with this name exists already", body["name"],
                                             "a new name, or edit that job"))
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
        bars.append({"x": i * step + 1, "y": height - h, "w": max(step - 2, 1), "h": h, "cls": outcome(r),
                     "title": f"{r.task_id}: {r.state.value}, {_duration(r.duration)}, skew "
                              f"{(r.skew or 0) * 1000:.0f} ms"})
        points.append((round(i * step + step / 2, 1), round(height - (r.skew or 0) / top_skew * (height - 20), 1)))
    return {"width": width, "height": height, "bars": bars, "dots": points,
            "skew": " ".join(f"{x},{y}" for x, y in points), "top": _duration(top),
            "top_skew": _duration(max([r.skew or 0 for r in runs] + [0]))}


def _job_detail(ctx: AppContext, name: str, reveal: bool) -> dict[str, Any]:
    job = ctx.store.get_job(name)
    runs, total = ctx.store.list_runs(name, limit=50)
    stats = ctx.store.job_stats(name)
    nxt, _ = ctx.store.job_overview([name])[name]
    quarantined = ctx.store.job_errors([name]).get(name)
    return {"job": job, "words": describe(job), "runs": runs, "total_runs": total, "stats": stats,
            "quarantined": quarantined, "next": None if job.disabled or quarantined else nxt,
            "chart": _chart(runs), "outcome": outcome,
            "spec": json.dumps(mask_job(job.to_dict(), reveal), indent=2), "live": any(r.state.live or r.state == RunState.QUEUED
                                                                      for r in runs),
            "children": ctx.store.children_of(name),
            "confirmed": ctx.scheduler.snapshot.confirmed if ctx.scheduler is not None else {}}


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


@router.get("/runs/{task_id}/log")
def log_page(request: Request, task_id: str) -> HTMLResponse:
    page = Page(request)
    stream = request.query_params.get("stream", "stdout")
    run = page.ctx.store.get_run_by_task_id(task_id)
    error, data = None, ""
    try:
        data = api_runs.read_log(page.ctx, task_id, stream if stream in ("stdout", "stderr") else "stdout",
                                 -1, 1 << 20)["data"]
    except HTTPException as exc:
        error = exc.detail.get("error") if isinstance(exc.detail, dict) else exc.detail
    except MoroccronError as exc:
        error = str(exc)
    return page.render("log.html", run=run, stream=stream, data=data, error=error)


# ---------------------------------------------------------------------------- graph, owners, status


@router.get("/graph")
def graph_page(request: Request) -> HTMLResponse:
    page = Page(request)
    ctx = page.ctx
    root = request.query_params.get("job") or None
    parents = ctx.store.parent_map()  # names and edges only: no spec decoded
    graph = DependencyGraph(parents)
    if root is not None:
        if root not in graph:
            raise NotFound(f"job {root!r} not found")
        names = {root, *graph.descendants(root)}
        note = f"{root} and the {len(names) - 1} jobs that depend on it"
    else:
        names = {n for n in parents if parents[n] or graph.children(n)}
        note = f"{len(names)} jobs with dependencies (jobs that stand alone are left out)"
    truncated = len(names) > GRAPH_LIMIT
    if truncated:
        names = set(sorted(names)[:GRAPH_LIMIT])
        note += f"; the first {GRAPH_LIMIT} by name are drawn: pick a job to see its whole subtree"
    # A subtree can wait on a failure above its root: look at the root's ancestors too.
    sources = names | set(graph.ancestors(root)) if root is not None else names
    newest = ctx.store.job_overview(sorted(sources))  # only these jobs' newest runs
    outcomes = {n: outcome(run) for n, (_, run) in newest.items()}
    failed = sorted(n for n in sources if outcomes.get(n) == "failed")
    progress = ctx.store.get_dependency_progress()  # once, not once per failed job
    waiting: set[str] = set()
    for name in failed:
        for child in graph.descendants(name):
            if (child in names and child not in waiting
                    and any(p not in progress.get(child, {}) for p in graph.parents(child))):
                waiting.add(child)
    lay = layout({n: graph.parents(n) for n in names}, first=set(failed) | waiting)
    nodes = [{"name": n, "x": x, "y": y, "cls": _node_class(outcomes.get(n, "never")),
              "waiting": n in waiting, "label": n if len(n) <= 21 else n[:20] + "…"}
             for n, (x, y) in lay.nodes.items()]
    edges = [{"d": lay.edge_path(p, c), "waiting": c in waiting} for p, c in lay.edges]
    return page.render("graph.html", nodes=nodes, edges=edges, width=lay.width, height=lay.height, root=root,
                       groups=lay.groups,
                       note=note, node_w=NODE_W, node_h=NODE_H, waiting=sorted(waiting), failed=failed)


def _node_class(state: str) -> str:
    return {"succeeded": "succeeded", "failed": "failed", "running": "running", "queued": "running"}.get(state,
                                                                                                        "never")


OWNER_ROLE = "admin"
"""Changing owners needs what the API's owner routes need (see moroccron.api.security)."""
OWNER_FIELDS = ("id", "name", "email", "slack", "pagerduty", "mute_until",
                *(f"pref_{event}" for event in NOTIFY_EVENTS))
"""The form's fixed fields; each other registered channel adds ``contact_CHANNEL`` (:func:`_contact_fields`)."""


def _contact_fields() -> list[tuple[str, NotifyChannel]]:
    """(form field, channel) for every registered channel but email (a field of its own):
    slack and pagerduty keep their field names, the others are ``contact_CHANNEL``."""
    return [(name if name in LEGACY_CONTACT_FIELDS else f"contact_{name}", channel)
            for name, channel in channels.registered().items() if name != "email"]


@router.get("/owners")
def owners_page(request: Request) -> HTMLResponse:
    """Stored owners, and the owners jobs name that are not stored (they get the default
    preferences: failure emails to the address), each with the number of jobs naming it."""
    page = Page(request)
    owners = page.ctx.store.list_owners()
    counts = page.ctx.store.job_owner_counts()
    stored = {o.id for o in owners}
    named_only = [(name, count) for name, count in counts.items() if name not in stored]
    return page.render("owners.html", owners=owners, counts=counts, named_only=named_only,
                       can_edit_owners=page.principal.can(OWNER_ROLE), defaults=DEFAULT_PREFERENCES)


def _owner_values(owner: Owner | None, owner_id: str = "") -> dict[str, str]:
    prefs = owner.preferences if owner is not None else DEFAULT_PREFERENCES
    values = {"id": owner.id if owner else owner_id, "name": owner.name if owner else "",
              "email": (owner.email or "") if owner else "",
              "mute_until": owner.mute_until.isoformat().replace("+00:00", "Z")
              if owner is not None and owner.mute_until else ""}
    for key, channel in _contact_fields():
        values[key] = (owner.contacts.get(channel.name) or "") if owner else ""
    # a PagerDuty routing key is a secret: shown as the mask, kept if posted back unchanged
    values["pagerduty"] = MASK if owner is not None and owner.pagerduty else ""
    for event in NOTIFY_EVENTS:
        values[f"pref_{event}"] = ", ".join(prefs.get(event, ()))
    return values


def _owner_body(form: dict[str, str], current: Owner | None) -> dict[str, Any]:
    """The API's owner body from the form: empty text is null; each event's channels comma-separated."""
    body: dict[str, Any] = {}
    for key in ("name", "email", "mute_until"):
        body[key] = form.get(key, "").strip() or None
    body["name"] = body["name"] or ""
    contacts: dict[str, str | None] = {}
    for key, channel in _contact_fields():
        contacts[channel.name] = form.get(key, "").strip() or None
    if contacts.get("pagerduty") == MASK:
        contacts["pagerduty"] = current.pagerduty if current is not None else None
    body["contacts"] = contacts
    body["preferences"] = {event: [c for c in form.get(f"pref_{event}", "").replace(",", " ").split() if c]
                           for event in NOTIFY_EVENTS}
    return body


def _owner_errors(exc: ValidationError) -> dict[str, str]:
    """Errors by form field: ``preferences.failure`` shows next to that event's channels."""
    out: dict[str, str] = {}
    for err in exc.errors:
        field = err.field.replace("preferences.", "pref_")
        if field.startswith("contacts."):
            channel = field.removeprefix("contacts.")
            field = channel if channel in LEGACY_CONTACT_FIELDS else f"contact_{channel}"
        key = field if field in OWNER_FIELDS or field in dict(_contact_fields()) else "_form"
        text = err.message + (f" (allowed: {err.allowed})" if err.allowed else "")
        if key == "_form" and err.field:
            text = f"{err.field}: {text}"
        out[key] = f"{out[key]}; {text}" if key in out else text
    return out


def _owner_page(page: Page) -> None:
    if not page.principal.can(OWNER_ROLE):
        raise HTTPException(403, f"{page.principal.name!r} has role {page.principal.role!r}; "
                                 f"changing owners needs {OWNER_ROLE!r}")


@router.get("/owners/edit")
def owner_form(request: Request) -> HTMLResponse:
    """``?id=X``: edit owner X, or create it if it is not stored (a name jobs use); no id: a new owner."""
    page = Page(request)
    _owner_page(page)
    owner_id = (request.query_params.get("id") or "").strip()
    owner = None
    if owner_id:
        try:
            owner = page.ctx.store.get_owner(owner_id)
        except NotFound:
            owner = None
    return page.render("owner_form.html", values=_owner_values(owner, owner_id), errors={}, editing=owner,
                       events=NOTIFY_EVENTS, channels=channels.names(), contact_fields=_contact_fields())


@router.post("/owners/edit", response_model=None)
async def save_owner(request: Request) -> Response:
    page = Page(request)
    _owner_page(page)
    form = await page.form()
    owner_id = form.get("id", "").strip()
    editing = form.get("editing") == "1"
    store = page.ctx.store
    current: Owner | None = None
    try:
        if not owner_id:
            raise ValidationError.single("id", "is required", None, "how jobs name the owner, e.g. an email address")
        try:
            current = store.get_owner(owner_id)
        except NotFound:
            current = None
        if current is not None and not editing:
            raise ValidationError.single("id", "an owner with this id exists already", owner_id,
                                         "a new id, or edit that owner")
        owner = owner_from_body(owner_id, _owner_body(form, current))  # the API's own checks
        store.put_owner(owner)
    except ValidationError as exc:
        return page.render("owner_form.html", code=422, values=form, errors=_owner_errors(exc),
                           editing=current if editing else None, events=NOTIFY_EVENTS, channels=channels.names(),
                           contact_fields=_contact_fields())
    return back("/owners", f"owner {owner_id} {'saved' if editing else 'created'}")


@router.post("/owners/delete", response_model=None)
async def delete_owner(request: Request) -> Response:
    page = Page(request)
    _owner_page(page)
    form = await page.form()
    owner_id = form.get("id", "")
    try:
        page.ctx.store.delete_owner(owner_id)
    except NotFound as exc:
        return back("/owners", f"delete failed: {exc}", error=True)
    return back("/owners", f"owner {owner_id} deleted")


@router.get("/status")
def old_status_page(request: Request) -> RedirectResponse:
    """The Cluster page's old address: bookmarks keep working."""
    query = request.url.query
    return RedirectResponse("/cluster" + (f"?{query}" if query else ""), status_code=308)


@router.get("/cluster")
def status_page(request: Request) -> HTMLResponse:
    page = Page(request)
    ctx = page.ctx
    status = ctx.scheduler.status() if ctx.scheduler is not None else {"leader": False}
    agents, master_error = [], None
    master = status.get("master")
    if master:
        try:
            state = requests.get(f"http://{master}/master/state", timeout=2).json()
            for a in state.get("slaves", []):
                agents.append({"id": a.get("id"), "hostname": a.get("hostname"),
                               "total": a.get("resources", {}), "used": a.get("used_resources", {}),
                               "active": a.get("active", True)})
        except (requests.RequestException, ValueError) as exc:
            master_error = f"the master did not answer: {exc}"
    from moroccron.readiness import check

    return page.render("status.html", status=status, agents=agents, master_error=master_error,
                       framework_id=ctx.store.get_framework_id(), leader_info=ctx.store.leader(),
                       leader_address=ctx.leader_address(),
                       ready=check(ctx.scheduler, ctx.store, ctx.leadership).to_dict())


@router.get("/ui/fragments/status")
def status_fragment(request: Request) -> HTMLResponse:
    return status_page(request)


def mount(app: Any, context: AppContext) -> Sessions:
    """Add the UI to ``app``; return the session keeper the auth middleware consults."""
    settings = context.settings
    sessions = Sessions(settings.session_secret, auth=context.auth, store=context.store,
                        secure=settings.session_cookie_secure)
    app.state.sessions = sessions
    from moroccron.ui.runs import router as runs_router  # it builds on this module's pages

    app.include_router(router)
    app.include_router(runs_router)
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")
    return sessions
