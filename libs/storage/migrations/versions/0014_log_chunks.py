"""Run logs in the database: the chunks of the database log store (`--log-store database`).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision: an empty table (the directory store, the default, keeps its files)."""
    op.create_table(
        "log_chunks",
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("start", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("project", "run_id", "start", name="pk_log_chunks"),
    )


def downgrade() -> None:
    """Revert this revision (the logs it holds are lost)."""
    op.drop_table("log_chunks")
