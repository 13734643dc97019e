"""Jobs revision: a counter bumped by every job write, for leaders to poll cheaply.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25

Matches ``FrameworkRow.jobs_revision`` in moroccron/store/models.py. A leader reads
this one value every few seconds to learn whether anyone changed jobs (``moroccron
jobs apply``, another instance); before, it had to aggregate the whole jobs table.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("framework") as batch:
        batch.add_column(sa.Column("jobs_revision", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("framework") as batch:
        batch.drop_column("jobs_revision")
