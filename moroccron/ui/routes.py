"""The web UI: server-rendered pages (Jinja2, autoescaped), a little JavaScript for live updates.

Pages read the same store the API does, a page at a time (a list page costs the same
at 10,000 jobs as at 10), and actions call the API's own handlers, so the UI can do
nothing the API would refuse. Forms post URL-encoded bodies with a CSRF token (see
:mod:`moroccron.ui.session`); read-only users are shown no buttons that change
anything, and their POSTs are refused by the auth middleware anyway.

The pages live in one module per page group: :mod:`~moroccron.ui.auth`,
:mod:`~moroccron.ui.jobs`, :mod:`~moroccron.ui.runs`, :mod:`~moroccron.ui.graph_page`,
:mod:`~moroccron.ui.owners` and :mod:`~moroccron.ui.cluster`, on the plumbing of
:mod:`~moroccron.ui.pages`. This module puts them together in :func:`mount`.
"""

from __future__ import annotations

from typing import Any

from fastapi.staticfiles import StaticFiles

from moroccron.api.deps import AppContext
from moroccron.ui import auth, cluster, graph_page, jobs, owners, runs
from moroccron.ui.pages import HERE, PAGE_SIZE, UI_PUBLIC_PREFIXES, template_environment
from moroccron.ui.session import Sessions

__all__ = ["PAGE_SIZE", "UI_PUBLIC_PREFIXES", "mount"]

# In the order their routes are matched.
PAGE_GROUPS = (auth, jobs, runs, graph_page, owners, cluster)


def mount(app: Any, context: AppContext) -> Sessions:
    """Add the UI to ``app``; return the session keeper the auth middleware consults.

    Templates come from the folders plugins name (``moroccron_ui_template_dirs``), then
    the built-in ones: see :func:`moroccron.ui.pages.template_environment`.
    """
    settings = context.settings
    sessions = Sessions(
        settings.session_secret, auth=context.auth, store=context.store, secure=settings.session_cookie_secure
    )
    app.state.sessions = sessions
    app.state.templates = template_environment(context.plugins.ui_template_dirs())
    for group in PAGE_GROUPS:
        app.include_router(group.router)
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")
    return sessions
