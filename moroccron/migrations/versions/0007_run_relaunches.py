"""Run relaunches and kill requests: what a new leader must know about a run's task.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

Matches ``RunRow.relaunches`` in moroccron/store/models.py. A task id is never used twice:
a launch the master dropped (or never heard of) is launched again as the next attempt,
and this count keeps such attempts from using up the job's ``retries``.
``runs.kill_requested`` (``RunRow.kill_requested``) records that its task was asked to
die, and why, so that a kill by request stays final across a reload or a new leader.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("relaunches", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("kill_requested", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("kill_requested")
        batch.drop_column("relaunches")
