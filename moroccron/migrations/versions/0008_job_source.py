"""Job sources: which set of job-definition modules applied a job.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

Matches ``JobRow.source`` in moroccron/store/models.py. ``moroccron jobs apply --source
NAME`` (by default the paths applied) marks the jobs it creates or updates, and
``--prune`` deletes only stored jobs of the same source. Jobs stored before this
revision, and jobs made through the API, the UI or ``chronos import``, have none, so
no prune deletes them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("source", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("source")
