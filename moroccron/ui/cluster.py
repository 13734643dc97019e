"""The cluster page: the leader, the framework, the Mesos master's agents and readiness."""

from __future__ import annotations

import requests
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from moroccron.ui.pages import Page, PageRoute

__all__ = ["router"]

router = APIRouter(include_in_schema=False, route_class=PageRoute)


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
                agents.append(
                    {
                        "id": a.get("id"),
                        "hostname": a.get("hostname"),
                        "total": a.get("resources", {}),
                        "used": a.get("used_resources", {}),
                        "active": a.get("active", True),
                    }
                )
        except (requests.RequestException, ValueError) as exc:
            master_error = f"the master did not answer: {exc}"
    from moroccron.readiness import check

    return page.render(
        "status.html",
        status=status,
        agents=agents,
        master_error=master_error,
        framework_id=ctx.store.get_framework_id(),
        leader_info=ctx.store.leader(),
        leader_address=ctx.leader_address(),
        ready=check(ctx.scheduler, ctx.store, ctx.leadership).to_dict(),
    )


@router.get("/ui/fragments/status")
def status_fragment(request: Request) -> HTMLResponse:
    return status_page(request)
