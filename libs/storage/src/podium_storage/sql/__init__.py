"""The SQL implementation of the storage interface (SQLite and PostgreSQL)."""

from podium_storage.sql.storage import SqlStorage
from podium_storage.sql.tables import metadata

__all__ = ["SqlStorage", "metadata"]
