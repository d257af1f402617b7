"""Indexes for run listings filtered by source or by creation date.

Without them, a page of `?source=schedule` or `?created_after=...` in a project whose runs
mostly do not match scans the whole runs table (about a second at 1,000,000 runs).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_index("ix_runs_project_source_type_id", "runs", ["project", "source_type", "id"], unique=False)
    op.create_index("ix_runs_project_created_at", "runs", ["project", "created_at"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_runs_project_created_at", table_name="runs")
    op.drop_index("ix_runs_project_source_type_id", table_name="runs")
