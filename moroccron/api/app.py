"""The HTTP application: native API, health, status. One router per resource."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute

from moroccron import __version__
from moroccron.api import (
    apply,
    chronos,
    errors,
    graph,
    jobs,
    metrics,
    openapi,
    owners,
    runs,
    status,
)
from moroccron.api.deps import AppContext
from moroccron.api.docs import install as install_docs
from moroccron.api.forward import ForwardToLeader
from moroccron.api.headers import install as install_security_headers
from moroccron.api.limits import DEFAULT_MAX_REQUEST_BYTES, InputLimits
from moroccron.api.ratelimit import FailureLimiter, parse_networks
from moroccron.api.security import AuthMiddleware


def _operation_id(route: APIRoute) -> str:
    """Unique per method too: Chronos routes accept POST and PUT on one handler."""
    methods = "_".join(sorted(route.methods or ()))
    path = route.path_format.strip("/").replace("/", "_").replace("{", "").replace("}", "")
    return f"{route.name}_{path}_{methods}".lower()


def create_app(context: AppContext) -> FastAPI:
    app = FastAPI(
        title="moroccron",
        version=__version__,
        description="Mesos + cron: scheduled and dependent jobs on Mesos.",
        generate_unique_id_function=_operation_id,
        docs_url=None,
        redoc_url=None,
    )
    app.state.context = context
    errors.install(app)
    openapi.install(app)
    install_docs(app)
    for module in (status, jobs, runs, graph, owners, metrics, apply):
        app.include_router(module.router)
    for router in chronos.routers:
        app.include_router(router)
    from moroccron.ui.routes import mount

    settings = context.settings
    # One count of failed sign-ins per client address, shared by the API's headers and the login form.
    app.state.auth_limiter = FailureLimiter(settings.auth_max_failures, settings.auth_failure_window_seconds)
    app.state.trusted_proxies = parse_networks(settings.trusted_proxies)
    sessions = mount(app, context)
    app.add_middleware(ForwardToLeader, context=context)
    # Inside authentication (a request without credentials is refused before its body is
    # read), outside forwarding (a standby refuses what the leader would refuse).
    app.add_middleware(
        InputLimits, max_request_bytes=getattr(context.settings, "max_request_bytes", DEFAULT_MAX_REQUEST_BYTES)
    )
    if context.auth is not None and context.auth.enabled:
        app.add_middleware(
            AuthMiddleware,
            auth=context.auth,
            session_principal=sessions.from_scope_async,
            limiter=app.state.auth_limiter,
            trusted_proxies=app.state.trusted_proxies,
        )
    install_security_headers(app)
    return app
