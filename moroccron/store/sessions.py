"""Session versions: the server-side half of UI sessions (see :mod:`moroccron.ui.session`).

A session cookie names its principal and the version it was issued at; it is good only
while :func:`session_version` still returns that version. The versions live in the
shared database, so revoking a session on one instance revokes it on all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from moroccron.store.models import SessionVersionRow
from moroccron.store.store import Store

__all__ = ["end_sessions", "session_version", "start_session", "sync_principals"]


def _insert(store: Store) -> Any:
    dialect = postgresql if store.dialect == "postgresql" else sqlite
    return dialect.insert(SessionVersionRow)


def session_version(store: Store, principal: str) -> int:
    """The principal's current session version (0 if it never had one)."""
    with store.transaction(readonly=True) as tx:
        version = tx.scalar(select(SessionVersionRow.version).where(SessionVersionRow.principal == principal))
    return int(version or 0)


def start_session(store: Store, principal: str, role: str) -> int:
    """The version a new session of ``principal`` is issued at; records its role if it has no row yet
    (so a later change of role in the auth config is noticed at the next start)."""
    with store.transaction() as tx:
        tx.execute(
            _insert(store)
            .values(principal=principal, version=0, role=role, updated_at=datetime.now(UTC))
            .on_conflict_do_nothing(index_elements=["principal"])
        )
        version = tx.scalar(select(SessionVersionRow.version).where(SessionVersionRow.principal == principal))
    return int(version or 0)


def end_sessions(store: Store, principal: str) -> int:
    """Revoke every session of ``principal``, on every instance; returns the new version."""
    now = datetime.now(UTC)
    stmt = _insert(store).values(principal=principal, version=1, role=None, updated_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=["principal"], set_={"version": SessionVersionRow.version + 1, "updated_at": now}
    )
    with store.transaction() as tx:
        return int(tx.execute(stmt.returning(SessionVersionRow.version)).scalar_one())


def sync_principals(store: Store, roles: Mapping[str, str]) -> list[str]:
    """Compare the configured principals and roles with the recorded ones, at start.

    Revokes the sessions of every principal that is no longer configured or whose role
    changed, and records the new role; returns their names. Principals seen for the
    first time get a row at version 0.
    """
    now = datetime.now(UTC)
    changed: list[str] = []
    with store.transaction() as tx:
        recorded = {p: r for p, r in tx.execute(select(SessionVersionRow.principal, SessionVersionRow.role))}
        for principal, role in recorded.items():
            if role != roles.get(principal):
                changed.append(principal)
                tx.execute(
                    update(SessionVersionRow)
                    .where(SessionVersionRow.principal == principal)
                    .values(version=SessionVersionRow.version + 1, role=roles.get(principal), updated_at=now)
                )
        new = [
            {"principal": p, "version": 0, "role": r, "updated_at": now} for p, r in roles.items() if p not in recorded
        ]
        if new:
            tx.execute(_insert(store).values(new).on_conflict_do_nothing(index_elements=["principal"]))
    return sorted(changed)
