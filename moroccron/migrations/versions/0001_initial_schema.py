"""Initial schema: jobs and their index tables, runs, owners, job_state, framework.

Revision ID: 0001
Revises:
Create Date: 2026-11-24

Written to match moroccron/store/models.py exactly (the tests run an autogenerate
drift check on SQLite and PostgreSQL). Types are spelled out here rather than imported
from the models, so this revision means the same thing whatever the models become.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    # models.UTCDateTime: aware UTC in and out; in the database, a timestamp with time zone.
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("schedule", sa.Text(), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        sa.UniqueConstraint("name", name="uq_jobs_name"),
    )
    op.create_index("ix_jobs_disabled", "jobs", ["disabled"])
    op.create_index("ix_jobs_updated_at", "jobs", ["updated_at"])

    op.create_table(
        "job_owners",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=320), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_job_owners_job_id_jobs", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "owner", name="pk_job_owners"),
    )
    op.create_index("ix_job_owners_owner", "job_owners", ["owner"])

    op.create_table(
        "job_labels",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", sa.String(length=1000), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_job_labels_job_id_jobs", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "key", name="pk_job_labels"),
    )
    op.create_index("ix_job_labels_key_value", "job_labels", ["key", "value"])

    op.create_table(
        "job_parents",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("parent", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_job_parents_job_id_jobs", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "parent", name="pk_job_parents"),
    )
    op.create_index("ix_job_parents_parent", "job_parents", ["parent"])

    op.create_table(
        "runs",
        # SQLite autoincrements only a column declared exactly INTEGER PRIMARY KEY.
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(length=200), nullable=False),
        sa.Column("scheduled_at", _utc(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("task_id", sa.String(length=255), nullable=False),
        sa.Column("queued_at", _utc(), nullable=True),
        sa.Column("launched_at", _utc(), nullable=True),
        sa.Column("started_at", _utc(), nullable=True),
        sa.Column("finished_at", _utc(), nullable=True),
        sa.Column("skew_seconds", sa.Float(), nullable=True),
        sa.Column("exit_status", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("agent_id", sa.String(length=255), nullable=True),
        sa.Column("hostname", sa.String(length=255), nullable=True),
        sa.Column("arguments", sa.JSON(), nullable=True),
        sa.Column("caused_by", sa.String(length=255), nullable=True),
        sa.Column("epoch", sa.Integer(), nullable=True),
        sa.CheckConstraint("attempt >= 0", name="ck_runs_attempt_not_negative"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_runs_job_id_jobs", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.UniqueConstraint("job_id", "scheduled_at", "attempt", name="uq_runs_job_id_scheduled_at_attempt"),
        sa.UniqueConstraint("task_id", name="uq_runs_task_id"),
    )
    op.create_index("ix_runs_job_scheduled_at_attempt", "runs", ["job", "scheduled_at", "attempt"])
    op.create_index("ix_runs_scheduled_at", "runs", ["scheduled_at"])
    op.create_index("ix_runs_state", "runs", ["state"])

    op.create_table(
        "owners",
        sa.Column("id", sa.String(length=320), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("slack", sa.String(length=255), nullable=True),
        sa.Column("pagerduty", sa.String(length=255), nullable=True),
        sa.Column("preferences", sa.JSON(), nullable=False),
        sa.Column("mute_until", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_owners"),
    )

    op.create_table(
        "job_state",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("last_scheduled_at", _utc(), nullable=True),
        sa.Column("next_fire_at", _utc(), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_job_state_job_id_jobs", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", name="pk_job_state"),
    )

    framework = op.create_table(
        "framework",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("framework_id", sa.String(length=255), nullable=True),
        sa.Column("leader_id", sa.String(length=255), nullable=True),
        sa.Column("leader_address", sa.String(length=255), nullable=True),
        sa.Column("leader_epoch", sa.Integer(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=True),
        sa.CheckConstraint("id = 1", name="ck_framework_single_row"),
        sa.PrimaryKeyConstraint("id", name="pk_framework"),
    )
    # The one row exists from the start, so fencing always has a row to lock.
    op.bulk_insert(framework, [{"id": 1, "leader_epoch": 0}])


def downgrade() -> None:
    # Dependent tables first; dropping a table drops its indexes with it.
    for table in ("runs", "job_state", "job_parents", "job_labels", "job_owners", "jobs", "owners", "framework"):
        op.drop_table(table)
