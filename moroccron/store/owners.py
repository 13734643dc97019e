"""Owners in the store: their contacts, notification preferences and mutes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Text, column, delete, func, insert, select, table, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from moroccron.errors import Conflict, NotFound
from moroccron.model import Owner, stored_data
from moroccron.store.base import StoreBase, _aware
from moroccron.store.models import JobOwnerRow, OwnerRow, UTCDateTime

__all__ = ["OwnersMixin"]


def _owner_columns(owner: Owner) -> dict[str, Any]:
    return {
        "name": owner.name,
        "contacts": {**({"email": owner.email} if owner.email else {}), **owner.contacts},
        "preferences": {event: list(channels) for event, channels in owner.preferences.items()},
        "mute_until": _aware("mute_until", owner.mute_until),
    }


def _owner_from_row(row: OwnerRow) -> Owner:
    with stored_data():  # stored under the bounds of its day (see moroccron.model.stored_data)
        contacts = dict(row.contacts or {})
        return Owner(
            id=row.id,
            name=row.name,
            email=contacts.pop("email", None),
            contacts=contacts,
            preferences=dict(row.preferences),
            mute_until=row.mute_until,
        )


class OwnersMixin(StoreBase):
    """The :class:`~moroccron.store.Store`'s owners."""

    def put_owner(self, owner: Owner) -> bool:
        """Create or replace an owner; return True if it was created.

        :raises Conflict: another client created the same owner at the same moment.
        """
        columns = _owner_columns(owner)
        with self._tx() as s:
            result = s.execute(
                update(OwnerRow)
                .where(OwnerRow.id == owner.id)
                .values(**columns)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount:  # type: ignore[attr-defined]
                return False
            try:
                s.execute(insert(OwnerRow).values(id=owner.id, **columns))
            except IntegrityError as exc:
                raise Conflict(f"owner {owner.id!r} was created concurrently; try again") from exc
            return True

    def get_owner(self, owner_id: str) -> Owner:
        """:raises NotFound:"""
        with self._tx(readonly=True) as s:
            row = s.get(OwnerRow, owner_id)
            if row is None:
                raise NotFound(f"owner {owner_id!r} not found")
            return _owner_from_row(row)

    def list_owners(self) -> list[Owner]:
        """Every owner, by id.

        Outside a unit of work, also from a database still at a schema older than migration
        0010 (a dry-run apply reads the database as it is): from its email, slack and
        pagerduty columns.
        """
        try:
            with self._tx(readonly=True) as s:
                return [_owner_from_row(r) for r in s.scalars(select(OwnerRow).order_by(OwnerRow.id))]
        except DBAPIError as exc:
            if self._session is not None or "contacts" not in str(exc.orig):
                raise
        older = table(
            "owners",
            column("id", Text()),
            column("name", Text()),
            column("email", Text()),
            column("slack", Text()),
            column("pagerduty", Text()),
            column("preferences", JSON()),
            column("mute_until", UTCDateTime()),
        )
        with self.transaction(readonly=True) as s:
            rows = s.execute(select(older).order_by(older.c.id)).all()
        with stored_data():
            return [
                Owner(
                    id=r.id,
                    name=r.name,
                    email=r.email,
                    slack=r.slack,
                    pagerduty=r.pagerduty,
                    preferences=dict(r.preferences),
                    mute_until=r.mute_until,
                )
                for r in rows
            ]

    def job_owner_counts(self) -> dict[str, int]:
        """``{owner: number of jobs naming it}`` for every owner named in a job, stored as an
        :class:`Owner` or not: one grouped query over the job-owner index."""
        with self._tx(readonly=True) as s:
            rows = s.execute(
                select(JobOwnerRow.owner, func.count()).group_by(JobOwnerRow.owner).order_by(JobOwnerRow.owner)
            )
            return {owner: int(count) for owner, count in rows}

    def delete_owner(self, owner_id: str) -> None:
        """Forget an owner's preferences (jobs keep naming them). :raises NotFound:"""
        with self._tx() as s:
            result = s.execute(
                delete(OwnerRow).where(OwnerRow.id == owner_id).execution_options(synchronize_session=False)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise NotFound(f"owner {owner_id!r} not found")
