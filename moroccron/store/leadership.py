"""Leadership in the store: the framework row's Mesos FrameworkID, the leader and its
epoch, which fences every write of a deposed leader. (The database lease that elects a
leader without ZooKeeper is :mod:`moroccron.store.lease`.)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from moroccron.store.base import StoreBase, _table, _utcnow
from moroccron.store.models import FrameworkRow

__all__ = ["LeadershipMixin"]


class LeadershipMixin(StoreBase):
    """The :class:`~moroccron.store.Store`'s framework row: FrameworkID, leader, epoch."""

    def check_epoch(self, epoch: int | None) -> None:
        """Fencing without a write: raise :class:`StaleEpoch` if ``epoch``'s leadership has
        ended. The scheduler asks before an ACCEPT whose record is written after it."""
        with self._tx() as s:
            self._check_epoch(s, epoch)

    def get_framework_id(self) -> str | None:
        """The FrameworkID Mesos assigned, to re-subscribe with after a failover."""
        with self._tx(readonly=True) as s:
            return s.scalar(select(FrameworkRow.framework_id).where(FrameworkRow.id == 1))

    def set_framework_id(self, framework_id: str | None) -> None:
        """Persist the FrameworkID (None forgets it, e.g. after the master tore it down)."""
        with self._tx() as s:
            self._framework_row(s)
            s.execute(
                update(FrameworkRow)
                .where(FrameworkRow.id == 1)
                .values(framework_id=framework_id, updated_at=_utcnow())
                .execution_options(synchronize_session=False)
            )

    def take_leadership(self, leader_id: str, address: str) -> int:
        """Record a new leader and return its epoch, one more than any before.

        Call it after winning the ZooKeeper election and before writing any run; pass
        the epoch to every run write so that writes of the previous leader, should it
        still be running, are refused.
        """
        with self._tx() as s:
            self._framework_row(s)
            epoch = s.scalar(
                update(FrameworkRow)
                .where(FrameworkRow.id == 1)
                .values(
                    leader_epoch=FrameworkRow.leader_epoch + 1,
                    leader_id=leader_id,
                    leader_address=address,
                    updated_at=_utcnow(),
                )
                .returning(FrameworkRow.leader_epoch)
                .execution_options(synchronize_session=False)
            )
            assert epoch is not None
            return epoch

    def leader(self) -> dict[str, Any] | None:
        """The last leader recorded: ``{"leader_id", "address", "epoch", "updated_at"}``,
        or None if no instance ever led. It may have died since; ZooKeeper knows."""
        with self._tx(readonly=True) as s:
            row = s.get(FrameworkRow, 1)
            if row is None or row.leader_id is None:
                return None
            return {
                "leader_id": row.leader_id,
                "address": row.leader_address,
                "epoch": row.leader_epoch,
                "updated_at": row.updated_at,
            }

    def current_epoch(self) -> int:
        """The current leadership epoch (0 before anyone led)."""
        with self._tx(readonly=True) as s:
            return s.scalar(select(FrameworkRow.leader_epoch).where(FrameworkRow.id == 1)) or 0

    def _framework_row(self, s: Session) -> None:
        """Make sure the single framework row exists (the initial migration creates it;
        this covers a schema created some other way)."""
        table = _table(FrameworkRow)
        s.execute(self._insert(table).values(id=1, leader_epoch=0).on_conflict_do_nothing(index_elements=[table.c.id]))
