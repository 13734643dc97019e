"""The leadership lease in the database: who leads when there is no ZooKeeper.

The lease is the ``framework`` row's leadership columns: the holder (``leader_id``), its
address, the epoch (``leader_epoch``, the same counter that fences every write, see
:meth:`Store.take_leadership`) and ``updated_at``, which the holder renews every few
seconds. Every change is a compare-and-set on what the caller last saw, so two
instances can never both take the lease, and a holder whose renewal finds the row
changed knows at once that it has been replaced.

Expiry is judged by the instance waiting for the lease, on its own monotonic clock:
a record that has not changed for the lease's duration since that instance first
saw it has expired. No clock is compared with another machine's, so clock skew
between hosts cannot make a standby take over early (see :mod:`moroccron.lease`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from moroccron.store.models import FrameworkRow
from moroccron.store.store import Store

__all__ = ["LeaseRecord", "claim_lease", "end_leadership", "read_lease", "renew_lease"]


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """The leadership columns as read. ``holder`` None: nobody holds the lease (never
    taken, or released by a clean stop)."""

    holder: str | None
    address: str | None
    epoch: int
    renewed_at: datetime | None


def _ensure_row(store: Store, s: Any) -> None:
    """The single framework row (the initial migration creates it; this covers a schema made otherwise)."""
    dialect = postgresql if store.dialect == "postgresql" else sqlite
    s.execute(dialect.insert(FrameworkRow).values(id=1, leader_epoch=0).on_conflict_do_nothing(index_elements=["id"]))


def read_lease(store: Store) -> LeaseRecord:
    with store.transaction(readonly=True) as s:
        row = s.execute(
            select(
                FrameworkRow.leader_id, FrameworkRow.leader_address, FrameworkRow.leader_epoch, FrameworkRow.updated_at
            ).where(FrameworkRow.id == 1)
        ).first()
    if row is None:
        return LeaseRecord(None, None, 0, None)
    return LeaseRecord(
        row.leader_id, row.leader_address if row.leader_id else None, int(row.leader_epoch or 0), row.updated_at
    )


def claim_lease(store: Store, holder: str, address: str, seen: LeaseRecord) -> int | None:
    """Take the lease if the record is still exactly ``seen``; return the new epoch, or
    None when anything changed since (the holder renewed it, or another instance took it).

    The caller decides that ``seen`` is free or expired; the condition only makes sure
    nothing moved in between.
    """
    where = [FrameworkRow.id == 1, FrameworkRow.leader_epoch == seen.epoch]
    if seen.holder is None:
        where.append(FrameworkRow.leader_id.is_(None))
    else:
        where.append(FrameworkRow.leader_id == seen.holder)
        where.append(
            FrameworkRow.updated_at.is_(None) if seen.renewed_at is None else FrameworkRow.updated_at == seen.renewed_at
        )
    with store.transaction() as s:
        _ensure_row(store, s)
        epoch = s.scalar(
            update(FrameworkRow)
            .where(*where)
            .values(
                leader_epoch=FrameworkRow.leader_epoch + 1,
                leader_id=holder,
                leader_address=address,
                updated_at=datetime.now(UTC),
            )
            .returning(FrameworkRow.leader_epoch)
            .execution_options(synchronize_session=False)
        )
    return None if epoch is None else int(epoch)


def renew_lease(store: Store, holder: str, epoch: int, at: datetime) -> bool:
    """Renew the lease ``holder`` took at ``epoch``; False if it is no longer theirs."""
    with store.transaction() as s:
        result = s.execute(
            update(FrameworkRow)
            .where(FrameworkRow.id == 1, FrameworkRow.leader_epoch == epoch, FrameworkRow.leader_id == holder)
            .values(updated_at=at)
            .execution_options(synchronize_session=False)
        )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def end_leadership(store: Store, holder: str, epoch: int) -> bool:
    """Give up the leadership ``holder`` took at ``epoch`` (a clean stop), so that the next
    instance takes over at once instead of waiting for the lease to expire. The epoch
    stays: the next leader's is one more. False if someone else leads already."""
    with store.transaction() as s:
        result = s.execute(
            update(FrameworkRow)
            .where(FrameworkRow.id == 1, FrameworkRow.leader_epoch == epoch, FrameworkRow.leader_id == holder)
            .values(leader_id=None, leader_address=None, updated_at=datetime.now(UTC))
            .execution_options(synchronize_session=False)
        )
    return bool(result.rowcount)  # type: ignore[attr-defined]
