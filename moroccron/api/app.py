"""The HTTP application: native API, health, status. One router per resource."""

from __future__ import annotations

from fastapi import FastAPI

from moroccron import __version__
from moroccron.api import errors, jobs, runs, status
from moroccron.api.deps import AppContext


def create_app(context: AppContext) -> FastAPI:
    app = FastAPI(title="moroccron", version=__version__,
                  description="Mesos + cron: scheduled and dependent jobs on Mesos.")
    app.state.context = context
    errors.install(app)
    for module in (status, jobs, runs):
        app.include_router(module.router)
    return app
