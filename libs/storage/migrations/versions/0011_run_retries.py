"""Retries: a run's attempt number, not-before time, the attempt that followed it, its retry policy.

Existing runs become attempt 1 of a job without retries (`attempt` defaults to 1 on the server,
so adding the column rewrites no row by hand).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.add_column("runs", sa.Column("attempt", sa.Integer(), nullable=False, server_default="1"))
    op.add_column("runs", sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))
    op.add_column("runs", sa.Column("retried_by", sa.String(length=36), nullable=True))
    op.add_column("runs", sa.Column("retry", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("retry")
        batch.drop_column("retried_by")
        batch.drop_column("not_before")
        batch.drop_column("attempt")
