"""What route handlers depend on: the application context, resolved per request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Request

from moroccron.api.leader import LeaderCheck, LeaderVerifier
from moroccron.config import Settings
from moroccron.hooks.manager import PluginManager

if TYPE_CHECKING:
    from moroccron.store import Store


@dataclass
class AppContext:
    """Everything the API serves from. ``scheduler`` is None where this instance does not schedule."""

    settings: Settings
    store: Store  # routes read most of it; AppContext.leader needs only moroccron.store.interfaces.LeaderRecord
    plugins: PluginManager
    scheduler: Any = None
    metrics: Any = None
    auth: Any = None  # moroccron.auth.Authenticator; None means no authentication
    leadership: Any = None  # moroccron.ha.Leadership (ZooKeeper) or moroccron.lease.DatabaseLease

    def __post_init__(self) -> None:
        self.leader_verifier = LeaderVerifier(self.settings.peers)

    def leader(self) -> LeaderCheck:
        """Where the leader serves HTTP, verified: ZooKeeper's leader must be the database's
        (moroccron/api/leader.py); without ZooKeeper, the database's (the lease's holder)."""
        if self.leadership is not None and not getattr(self.leadership, "in_database", False):
            return self.leader_verifier.check(self.leadership.leader(), self.store.leader())
        row = self.store.leader()
        return self.leader_verifier.check_address(row.get("address") if row else None)

    def leader_address(self) -> str | None:
        """The leader's verified ``host:port``, or None when there is none that can be trusted."""
        return self.leader().address


def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


ContextDep = Annotated[AppContext, Depends(get_context)]


def caller(request: Request) -> str | None:
    """Who sent ``request``: the authenticated principal's name (None without authentication)."""
    principal = request.scope.get("state", {}).get("principal")
    return principal.name if principal is not None and principal.via != "anonymous" else None


def require_scheduler(ctx: AppContext) -> Any:
    if ctx.scheduler is None:
        raise HTTPException(
            503,
            {
                "error": "this instance is not scheduling (not the leader)",
                "field": None,
                "allowed": None,
                "leader": ctx.leader_address() if ctx.leadership else None,
            },
        )
    return ctx.scheduler
