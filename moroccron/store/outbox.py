"""The notification outbox in the store: messages written in the transaction of the
change that caused them, and their delivery (see :mod:`moroccron.outbox`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from moroccron.errors import NotFound
from moroccron.store.base import StoreBase, _aware
from moroccron.store.models import OutboxRow

__all__ = ["OutboxItem", "OutboxMixin"]


@dataclass(frozen=True)
class OutboxItem:
    """One outbox row, detached from the session."""

    id: int
    created_at: datetime
    event: str
    job: str
    task_id: str | None
    payload: Mapping[str, Any]
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    results: Mapping[str, Any] | None
    delivered_at: datetime | None


def _outbox_item(row: OutboxRow) -> OutboxItem:
    return OutboxItem(
        id=int(row.id),
        created_at=row.created_at,
        event=row.event,
        job=row.job,
        task_id=row.task_id,
        payload=dict(row.payload or {}),
        state=row.state,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        results=dict(row.results) if row.results is not None else None,
        delivered_at=row.delivered_at,
    )


class OutboxMixin(StoreBase):
    """The :class:`~moroccron.store.Store`'s notification outbox."""

    def enqueue_notification(
        self,
        event: str,
        job: str,
        task_id: str | None,
        payload: Mapping[str, Any],
        *,
        now: datetime,
        epoch: int | None = None,
    ) -> int:
        """Put a message in the outbox (call it in the transaction of the change that caused it)."""
        when = _aware("now", now)
        with self._tx() as s:
            self._check_epoch(s, epoch)
            row = OutboxRow(
                created_at=when,
                event=event,
                job=job,
                task_id=task_id,
                payload=dict(payload),
                state="pending",
                attempts=0,
                next_attempt_at=when,
            )
            s.add(row)
            s.flush()
            return int(row.id)

    def due_notifications(self, now: datetime, *, limit: int = 100) -> list[OutboxItem]:
        """Pending messages whose next attempt is due, oldest first."""
        when = _aware("now", now)
        with self._tx(readonly=True) as s:
            rows = s.scalars(
                select(OutboxRow)
                .where(OutboxRow.state == "pending", OutboxRow.next_attempt_at <= when)
                .order_by(OutboxRow.id)
                .limit(limit)
            )
            return [_outbox_item(r) for r in rows]

    def update_notification(
        self,
        item_id: int,
        *,
        state: str,
        attempts: int,
        next_attempt_at: datetime,
        results: Mapping[str, Any] | None,
        last_error: str | None,
        delivered_at: datetime | None,
    ) -> None:
        with self._tx() as s:
            row = s.get(OutboxRow, item_id)
            if row is None:
                raise NotFound(f"notification {item_id} not found")
            row.state, row.attempts = state, attempts
            row.next_attempt_at = _aware("next_attempt_at", next_attempt_at)
            row.results = dict(results) if results is not None else None
            row.last_error = last_error
            row.delivered_at = _aware("delivered_at", delivered_at)

    def notifications(
        self, *, job: str | None = None, task_id: str | None = None, limit: int = 100
    ) -> list[OutboxItem]:
        """Newest first: what was (or will be) sent, for the API, the UI and tests;
        ``task_id``: only the messages about that run."""
        with self._tx(readonly=True) as s:
            q = select(OutboxRow).order_by(OutboxRow.id.desc()).limit(limit)
            if job is not None:
                q = q.where(OutboxRow.job == job)
            if task_id is not None:
                q = q.where(OutboxRow.task_id == task_id)
            return [_outbox_item(r) for r in s.scalars(q)]

    def last_notification(
        self,
        job: str,
        events: Sequence[str],
        *,
        states: Sequence[str] = ("delivered", "failed"),
        before_id: int | None = None,
    ) -> OutboxItem | None:
        """The newest message of ``job`` with one of ``events``: collapsing asks "is an
        incident already open for this job?"."""
        with self._tx(readonly=True) as s:
            q = (
                select(OutboxRow)
                .where(OutboxRow.job == job, OutboxRow.event.in_(list(events)), OutboxRow.state.in_(list(states)))
                .order_by(OutboxRow.id.desc())
                .limit(1)
            )
            if before_id is not None:
                q = q.where(OutboxRow.id < before_id)
            row = s.scalars(q).first()
            return _outbox_item(row) if row is not None else None
