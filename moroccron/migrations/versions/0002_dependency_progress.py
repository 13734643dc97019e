"""Dependency progress: which parents have succeeded since a dependent job last ran.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

Matches ``DependencyProgressRow`` in moroccron/store/models.py (the tests run an
autogenerate drift check on SQLite and PostgreSQL). A new table only, so the upgrade
touches no existing row; the downgrade drops the table, and with it the progress of
dependent jobs, which then wait for every parent to succeed again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dependency_progress",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("parent", sa.String(length=200), nullable=False),
        sa.Column("satisfied_by", sa.String(length=255), nullable=False),
        # models.UTCDateTime: aware UTC in and out; in the database, a timestamp with time zone.
        sa.Column("satisfied_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_dependency_progress_job_id_jobs", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "parent", name="pk_dependency_progress"),
    )


def downgrade() -> None:
    op.drop_table("dependency_progress")
