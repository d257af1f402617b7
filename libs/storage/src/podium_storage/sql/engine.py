"""The async engine: SQLite tuned for an embedded, multi-process database, or PostgreSQL."""

from __future__ import annotations

import json
import logging
from typing import Any

import pydantic_core
from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from podium_storage.sql.inline import inline_creator
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


def json_loads(text: str | bytes) -> Any:
    """A JSON column's value: parsed by pydantic-core, several times faster than `json.loads`.

    A run listing parses three JSON columns per run. pydantic-core refuses what the standard
    library accepts in a few corners (lone surrogate escapes): those fall back to `json.loads`.
    """
    try:
        return pydantic_core.from_json(text)
    except ValueError:
        return json.loads(text)


def create_engine(url: URL, *, write: bool = True) -> AsyncEngine:
    """An async engine for `url`.

    On SQLite, every connection is put in WAL mode with `synchronous=NORMAL`, a busy timeout
    and foreign keys on. The driver's own transaction handling is turned off. A write engine
    emits `BEGIN IMMEDIATE` itself, so that a transaction that reads then writes takes the
    write lock first and waits (busy timeout) instead of failing when another process wrote in
    between. A read engine emits nothing: each read is one statement, which SQLite runs in a
    transaction of its own (as PostgreSQL reads run in autocommit), and a `BEGIN` and its
    rollback cost as much again as the read.

    On PostgreSQL, a pool of 10 (+10) connections, checked on checkout (`_check_on_checkout`).
    """
    if is_sqlite(url):
        ensure_sqlite_directory(url)
        assert url.database is not None  # sql_url refuses a SQLite URL without a path
        creator = inline_creator(url.database, BUSY_TIMEOUT_MS / 1000)
        engine = create_async_engine(url, async_creator=creator, json_deserializer=json_loads)
        _tune_sqlite(engine, "BEGIN IMMEDIATE" if write else None)
        return engine
    engine = create_async_engine(url, pool_size=10, max_overflow=10, json_deserializer=json_loads)
    _check_on_checkout(engine)
    return engine


def _check_on_checkout(engine: AsyncEngine) -> None:
    """Replace a pooled PostgreSQL connection the server has closed before it is used.

    This is SQLAlchemy's `pool_pre_ping` without its cost: that ping is three round trips
    (BEGIN, an empty query, ROLLBACK) on every checkout, i.e. before every storage call, as
    many as a short read itself took. A connection the server closed (restart, outage,
    terminated backend) is known closed to asyncpg as soon as the event loop has seen the
    socket close, so asking it costs nothing; all older connections are then replaced too.
    A connection that dies between this check and its query fails that one call with
    `StorageUnavailable`, and SQLAlchemy invalidates the pool as it does for any disconnect.
    """

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", None)
        if driver is not None and driver.is_closed():
            raise InvalidatePoolError("the server closed this pooled connection")


def _tune_sqlite(engine: AsyncEngine, begin: str | None) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            for pragma in _SQLITE_PRAGMAS:
                cursor.execute(pragma)
        finally:
            cursor.close()

    if begin is None:
        return

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)
