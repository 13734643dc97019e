"""Owners' addresses in one ``contacts`` column: ``{channel: address}``, for any registered channel.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

Notification channels are registered by plugins now (``moroccron_notify_channels``), so an
owner's address on each is an entry of the JSON object ``owners.contacts`` rather than a
column per channel. The ``email``, ``slack`` and ``pagerduty`` columns are carried over
into it (``{"email": ..., "slack": ..., "pagerduty": ...}``, empty ones left out) and
dropped. Downgrading puts those three back from ``contacts``; addresses on other channels
have no column in the older schema and are dropped with it. Matches ``OwnerRow.contacts``
in moroccron/store/models.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("email", "slack", "pagerduty")
_LENGTHS = {"email": 320, "slack": 255, "pagerduty": 255}


def _owners(*columns: sa.ColumnClause[Any]) -> sa.TableClause:
    return sa.table("owners", sa.column("id", sa.String()), *columns)


def upgrade() -> None:
    with op.batch_alter_table("owners") as batch:
        batch.add_column(sa.Column("contacts", sa.JSON(), nullable=True))
    conn = op.get_bind()
    old = _owners(*(sa.column(c, sa.String()) for c in _COLUMNS))
    new = _owners(sa.column("contacts", sa.JSON()))
    rows = conn.execute(sa.select(old.c.id, *(old.c[c] for c in _COLUMNS))).all()
    for row in rows:
        contacts = {c: getattr(row, c) for c in _COLUMNS if getattr(row, c)}
        conn.execute(sa.update(new).where(new.c.id == row.id).values(contacts=contacts))
    with op.batch_alter_table("owners") as batch:
        batch.alter_column("contacts", existing_type=sa.JSON(), nullable=False)
        for column in reversed(_COLUMNS):
            batch.drop_column(column)


def downgrade() -> None:
    with op.batch_alter_table("owners") as batch:
        for column in _COLUMNS:
            batch.add_column(sa.Column(column, sa.String(length=_LENGTHS[column]), nullable=True))
    conn = op.get_bind()
    table = _owners(sa.column("contacts", sa.JSON()), *(sa.column(c, sa.String()) for c in _COLUMNS))
    for row in conn.execute(sa.select(table.c.id, table.c.contacts)).all():
        contacts = row.contacts or {}
        values = {c: (contacts.get(c) or None) for c in _COLUMNS}
        values = {c: v[: _LENGTHS[c]] if isinstance(v, str) else None for c, v in values.items()}
        conn.execute(sa.update(table).where(table.c.id == row.id).values(**values))
    with op.batch_alter_table("owners") as batch:
        batch.drop_column("contacts")
