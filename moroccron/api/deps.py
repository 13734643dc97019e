"""What route handlers depend on: the application context, resolved per request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

from moroccron.config import Settings
from moroccron.hooks.manager import PluginManager


@dataclass
class AppContext:
    """Everything the API serves from. ``scheduler`` is None where this instance does not schedule."""

    settings: Settings
    store: Any
    plugins: PluginManager
    scheduler: Any = None
    metrics: Any = None
    auth: Any = None  # moroccron.auth.Authenticator; None means no authentication
    leadership: Any = None  # moroccron.ha.Leadership when instances elect a leader through ZooKeeper

    def leader_address(self) -> str | None:
        """Where the leader serves HTTP: from ZooKeeper if we elect, else from the store."""
        if self.leadership is not None:
            info = self.leadership.leader()
            return info.get("address") if info else None
        row = self.store.leader()
        return row.get("address") if row else None


def get_context(request: Request) -> AppContext:
    return request.app.state.context


def get_store(request: Request) -> Any:
    return request.app.state.context.store


ContextDep = Annotated[AppContext, Depends(get_context)]
StoreDep = Annotated[Any, Depends(get_store)]


def require_scheduler(ctx: AppContext) -> Any:
    if ctx.scheduler is None:
        raise HTTPException(503, {"error": "this instance is not scheduling (not the leader)", "field": None,
                                  "allowed": None, "leader": ctx.leader_address() if ctx.leadership else None})
    return ctx.scheduler
