"""Session versions: UI sessions that can be revoked on the server.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

Matches ``SessionVersionRow`` in moroccron/store/models.py. A new table only; the
downgrade drops it, after which a session is checked by its signature and expiry alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "session_versions",
        sa.Column("principal", sa.String(length=255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("principal", name=op.f("pk_session_versions")),
    )


def downgrade() -> None:
    op.drop_table("session_versions")
