"""What every UI page shares: the request's :class:`Page` (who is looking, the CSRF token,
rendering a template), errors shown as pages (:class:`PageRoute`), the template filters,
and the Jinja environment with the template folders plugins add in front of the built-in ones."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader, select_autoescape

from moroccron import __version__
from moroccron.api.deps import AppContext
from moroccron.auth import ANONYMOUS_ADMIN, Principal
from moroccron.bounds import MAX_OFFSET
from moroccron.errors import Conflict, MoroccronError, NotFound, ValidationError
from moroccron.masking import MASK
from moroccron.model import (
    JobSpec,
    Run,
    RunState,
)
from moroccron.schedule.parse import parse_schedule
from moroccron.ui.session import CSRF_COOKIE, Sessions, cookies_of

__all__ = [
    "MAX_PAGE",
    "PAGE_SIZE",
    "UI_PUBLIC_PREFIXES",
    "Page",
    "PageRoute",
    "back",
    "describe",
    "outcome",
    "template_environment",
    "why",
]

HERE = Path(__file__).parent
PAGE_SIZE = 50
MAX_PAGE = MAX_OFFSET // PAGE_SIZE
UI_PUBLIC_PREFIXES = ("/login", "/ui/static/")
FAILED = {RunState.FAILED, RunState.LOST, RunState.KILLED}

BUILTIN_TEMPLATES = HERE / "templates"


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
    return reason_words(reason) if code else ""


def reason_words(code: str) -> str:
    """A Mesos reason code in words: ``REASON_CONTAINER_LAUNCH_FAILED`` is "container launch failed"."""
    return code.removeprefix("REASON_").replace("_", " ").lower()


def template_environment(extra_dirs: Sequence[str | Path] = ()) -> Environment:
    """The UI's templates: each folder of ``extra_dirs`` in order (plugins', from
    ``moroccron_ui_template_dirs``), then the built-in ones. A plugin's template of the same
    name as a built-in one replaces it; a new one can extend ``base.html``. The built-in
    templates are also reachable as ``moroccron/NAME``, so a replacement can extend the
    template it replaces (``{% extends "moroccron/job.html" %}``)."""
    builtin = FileSystemLoader(BUILTIN_TEMPLATES)
    loader = ChoiceLoader([*(FileSystemLoader(d) for d in extra_dirs), builtin, PrefixLoader({"moroccron": builtin})])
    env = Environment(loader=loader, autoescape=select_autoescape(default=True), trim_blocks=True, lstrip_blocks=True)
    env.filters.update(when=_when, ago=_ago, duration=_duration, why=why)
    env.globals["mask"] = MASK
    return env


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
            ANONYMOUS_ADMIN if not self.auth_on else Principal("nobody", "read", "anonymous")
        )

    @property
    def auth_on(self) -> bool:
        return self.ctx.auth is not None and self.ctx.auth.enabled

    @property
    def can_write(self) -> bool:
        return self.principal.can("write")

    def render(self, template: str, code: int = 200, **values: Any) -> HTMLResponse:
        ctx = self.ctx
        values.update(
            page=self,
            version=__version__,
            csrf=self.sessions.csrf_token(self.cookies),
            can_write=self.can_write,
            user=self.principal if self.auth_on and self.principal.via != "anonymous" else None,
            message=self.request.query_params.get("msg"),
            message_is_error=self.request.query_params.get("err") == "1",
            standby=ctx.scheduler is None,
            leader=ctx.leader_address() if ctx.scheduler is None else None,
            nav=template.split(".")[0],
        )
        templates: Environment = self.request.app.state.templates
        response = HTMLResponse(templates.get_template(template).render(**values), status_code=code)
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
