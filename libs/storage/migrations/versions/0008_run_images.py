"""Runs: the image their commands ran in, and its digest.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision: existing runs ran on their worker's host, in no image."""
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("image", sa.String(255), nullable=True))
        batch.add_column(sa.Column("image_digest", sa.Text(), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("image_digest")
        batch.drop_column("image")
