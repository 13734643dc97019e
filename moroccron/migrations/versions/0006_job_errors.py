"""Job errors: why the scheduler set a job aside after an internal error.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

Matches ``JobStateRow.error`` and ``error_at`` in moroccron/store/models.py. A job whose
handling raised inside the scheduler is quarantined (not scheduled) until it is changed
or enabled; the reason is kept here so it survives a restart and a change of leader,
and so the API and the UI can show it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("job_state") as batch:
        batch.add_column(sa.Column("error", sa.Text(), nullable=True))
        # models.UTCDateTime: aware UTC in and out; in the database, a timestamp with time zone.
        batch.add_column(sa.Column("error_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job_state") as batch:
        batch.drop_column("error_at")
        batch.drop_column("error")
