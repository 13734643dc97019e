"""Signing in and out."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from moroccron.api.ratelimit import client_address
from moroccron.auth import ANONYMOUS_ADMIN, AuthBusy, Principal
from moroccron.ui.pages import Page, PageRoute
from moroccron.ui.session import SESSION_COOKIE

__all__ = ["router"]

router = APIRouter(include_in_schema=False, route_class=PageRoute)


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
            response = page.render(
                "login.html",
                code=429,
                next=target,
                error=f"too many failed attempts from your address: try again in {wait} s",
            )
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
    redirect = RedirectResponse(target, status_code=303)
    redirect.set_cookie(SESSION_COOKIE, cookie, **page.sessions.cookie_options())
    return redirect


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
