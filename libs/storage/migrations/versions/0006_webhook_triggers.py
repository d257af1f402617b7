"""Webhook triggers: a job's `triggers`, and the request body of each webhook run.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    # Existing jobs declare no trigger: the server default fills their rows.
    op.add_column("jobs", sa.Column("triggers", sa.JSON(none_as_null=True), nullable=False, server_default="[]"))
    op.create_table(
        "run_payloads",
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_run_payloads")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("run_payloads")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("triggers")
