"""The async engine: SQLite tuned for an embedded, multi-process database, or PostgreSQL."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from podium_storage.urls import ensure_sqlite_directory, is_sqlite

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
"""How long a SQLite connection waits for another writer (another process) before giving up."""

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    "PRAGMA foreign_keys=ON",
)


def create_engine(url: URL, *, write: bool = True) -> AsyncEngine:
    """An async engine for `url`.

    On SQLite, every connection is put in WAL mode with `synchronous=NORMAL`, a busy timeout
    and foreign keys on. The driver's own transaction handling is turned off and Podium emits
    `BEGIN` itself: `BEGIN IMMEDIATE` when `write` is true, so that a transaction that reads
    then writes takes the write lock first and waits (busy timeout) instead of failing when
    another process wrote in between.
    """
    if is_sqlite(url):
        ensure_sqlite_directory(url)
        engine = create_async_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        _tune_sqlite(engine, "BEGIN IMMEDIATE" if write else "BEGIN")
        return engine
    return create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _tune_sqlite(engine: AsyncEngine, begin: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            for pragma in _SQLITE_PRAGMAS:
                cursor.execute(pragma)
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)
