"""The audit log: one row per administrative change.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "audit",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column("details", sa.JSON(none_as_null=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit")),
    )
    op.create_index("ix_audit_actor_id", "audit", ["actor", "id"], unique=False)
    op.create_index("ix_audit_action_id", "audit", ["action", "id"], unique=False)
    op.create_index("ix_audit_target_id", "audit", ["target", "id"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_audit_target_id", table_name="audit")
    op.drop_index("ix_audit_action_id", table_name="audit")
    op.drop_index("ix_audit_actor_id", table_name="audit")
    op.drop_table("audit")
