"""Podium storage: the async `Storage` interface, its SQL implementation, migrations, logs, auth.

Entry points::

    async with open_storage("sqlite+aiosqlite:///./.podium/podium.db") as storage:
        run = await storage.create_run(...)

    await migrate(url)   # Alembic upgrade head; the master runs it at start-up
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from podium_storage.interface import AlreadyExists, InvalidCursor, Storage, StorageError, StorageUnavailable
from podium_storage.logs import DirectoryLogStore, LogOffsetMismatch, LogStore, open_log_store
from podium_storage.urls import UnsupportedDatabaseUrl, is_mongo, sql_url


async def migrate(url: str) -> None:
    """Bring the database at `url` to the newest schema (Alembic for SQL, numbered scripts for MongoDB).

    Safe to call concurrently and repeatedly.

    Raises:
        UnsupportedDatabaseUrl: the URL names no supported database.
        StorageUnavailable: the database cannot be reached.
    """
    if is_mongo(url):
        from podium_storage.mongo import migrate_mongo

        await migrate_mongo(url)
    else:
        from podium_storage.migration import migrate as migrate_sql

        await migrate_sql(url)


@asynccontextmanager
async def open_storage(url: str) -> AsyncIterator[Storage]:
    """Open the storage for `url`, chosen by its scheme, and close it when the block ends.

    Schemes: `sqlite+aiosqlite://`, `sqlite://`, `postgresql://`, `postgres://`,
    `postgresql+asyncpg://` (SQL: connecting is lazy, so this succeeds while the database is
    down and operations then raise `StorageUnavailable`), and `mongodb://`, `mongodb+srv://`
    (MongoDB: the server must answer, as the indexes are ensured on opening). The schema must
    have been migrated (`migrate`).

    Raises:
        UnsupportedDatabaseUrl: the scheme is not supported.
    """
    storage: Storage
    if is_mongo(url):
        from podium_storage.mongo import MongoStorage

        storage = await MongoStorage.open(url)
    else:
        from podium_storage.sql import SqlStorage

        storage = SqlStorage(sql_url(url))
    try:
        yield storage
    finally:
        await storage.close()


__all__ = [
    "AlreadyExists",
    "DirectoryLogStore",
    "InvalidCursor",
    "LogOffsetMismatch",
    "LogStore",
    "Storage",
    "StorageError",
    "StorageUnavailable",
    "UnsupportedDatabaseUrl",
    "migrate",
    "open_log_store",
    "open_storage",
]
