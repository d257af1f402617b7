"""Schema migrations (Alembic) for the SQL databases.

The Alembic scripts live in `libs/storage/migrations/` in the source tree and are packaged
as `podium_storage/migrations/` in the wheel; `script_location()` finds either, so migrations
run from any working directory.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection

from podium_storage.urls import sql_url

if TYPE_CHECKING:
    from alembic.config import Config

logger = logging.getLogger(__name__)

# Any constant: PostgreSQL serialises concurrent migrations on this advisory lock.
_LOCK_KEY = 0x706F6469756D


def script_location() -> Path:
    """The directory of the Alembic environment (`env.py`, `versions/`)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "migrations", here.parent.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise RuntimeError(f"podium_storage migrations not found next to {here}")


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration for Podium's migrations (and `url`, for the alembic CLI)."""
    from alembic.config import Config  # imported on use: alembic takes long to import

    config = Config()
    config.set_main_option("script_location", str(script_location()))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def migrate(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` (default: the newest schema).

    Safe to call concurrently and repeatedly: it does nothing when the schema is current.

    Raises:
        UnsupportedDatabaseUrl: the URL is not a supported SQL database.
        StorageUnavailable: the database cannot be reached.
    """
    from podium_storage.sql.session import SqlBase  # the error mapping lives there

    base = SqlBase(sql_url(url))
    try:
        await base._writing(lambda connection: _upgrade(connection, revision))
    finally:
        await base._dispose()
    logger.info("database schema at %s", revision)


__all__ = ["alembic_config", "migrate", "script_location"]
