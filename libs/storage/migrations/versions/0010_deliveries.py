"""Webhooks out: a project's `notifications`, and the outbox of their deliveries.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    # Existing projects notify nobody: the server default fills their rows.
    op.add_column(
        "projects", sa.Column("notifications", sa.JSON(none_as_null=True), nullable=False, server_default="[]")
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("project", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
    )
    op.create_index("ix_deliveries_status_id", "deliveries", ["status", "id"], unique=False)
    op.create_index("ix_deliveries_project_id", "deliveries", ["project", "id"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_deliveries_project_id", table_name="deliveries")
    op.drop_index("ix_deliveries_status_id", table_name="deliveries")
    op.drop_table("deliveries")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("notifications")
