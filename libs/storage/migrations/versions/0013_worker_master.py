"""Workers: the master holding each one's connection (several masters on one database).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision: existing workers name no master until they next connect."""
    with op.batch_alter_table("workers") as batch:
        batch.add_column(sa.Column("master", sa.String(64), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("master")
