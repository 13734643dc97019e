"""The run page: when a run's offer came, who asked for it and who killed it; notifications by task.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

Matches ``RunRow.offered_at``, ``RunRow.requested_by`` and ``RunRow.killed_by`` in
moroccron/store/models.py, and the ``ix_outbox_task_id`` index of ``OutboxRow``: the run
page lists the notifications sent about one run.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("offered_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("requested_by", sa.String(255), nullable=True))
        batch.add_column(sa.Column("killed_by", sa.String(255), nullable=True))
    op.create_index("ix_outbox_task_id", "outbox", ["task_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_task_id", table_name="outbox")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("killed_by")
        batch.drop_column("requested_by")
        batch.drop_column("offered_at")
