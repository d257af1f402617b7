"""Runs: PostgreSQL notifies `podium_runs` when runs are inserted, so every master wakes on them.

A statement-level trigger: one `pg_notify` per insert statement, in its transaction (sent at
commit, folded into one per transaction by PostgreSQL), whoever inserts (the api, any
master, a retry in the transaction of a final status, a restore). SQLite: nothing (one master).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision (PostgreSQL only)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION podium_runs_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('podium_runs', '');
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER runs_inserted AFTER INSERT ON runs FOR EACH STATEMENT EXECUTE FUNCTION podium_runs_inserted()"
    )


def downgrade() -> None:
    """Revert this revision."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS runs_inserted ON runs")
    op.execute("DROP FUNCTION IF EXISTS podium_runs_inserted()")
