"""Priorities of jobs and runs, the concurrency key of a run, and the dispatcher's index.

`jobs.priority` and `runs.priority` are NOT NULL with a server default of 0, so existing rows
read as priority 0; `runs.concurrency_key` is nullable (runs of jobs without a limit). The
index (status, priority DESC, id) serves the dispatcher's page of pending runs.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    # A constant default: no rewrite of existing rows on PostgreSQL 11+ nor on SQLite.
    op.add_column("jobs", sa.Column("priority", sa.Integer(), server_default="0", nullable=False))
    op.add_column("runs", sa.Column("priority", sa.Integer(), server_default="0", nullable=False))
    op.add_column("runs", sa.Column("concurrency_key", sa.String(length=200), nullable=True))
    op.create_index("ix_runs_status_priority_id", "runs", ["status", sa.text("priority DESC"), "id"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_runs_status_priority_id", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("concurrency_key")
        batch.drop_column("priority")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("priority")
