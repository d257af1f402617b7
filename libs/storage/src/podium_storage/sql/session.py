"""The one path of every SQL statement, and the mapping of driver errors to storage errors.

Every statement runs in a synchronous function of a connection (`work(connection)`), handed
to `SqlBase._reading` (a read: one statement, no transaction) or `SqlBase._writing` (a write
transaction, committed when `work` returns). The cold writes that use the ORM (get a row,
change it, add one) go through `SqlBase._orm`, a `Session` bound to a `_writing` connection.
All three end in `SqlBase._run`, the one place that executes:

- PostgreSQL (asyncpg): `AsyncConnection.run_sync(work)`, SQLAlchemy's own async path.
- SQLite (aiosqlite): the whole call in one greenlet (`greenlet_spawn`), its statements run
  on the event loop's thread (`inline.InlineConnection`), so a call never suspends midway.

The SQLite path relies on internals: `sqlalchemy.util.greenlet_spawn` and the private parts
of `aiosqlite.Connection` that `inline.py` replaces. The versions it is tested with are
pinned in `libs/storage/pyproject.toml` (`sqlalchemy<2.2`, `aiosqlite<0.23`); `tests/storage/
test_inline.py` checks them on every run.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Table
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable
from sqlalchemy.util import greenlet_spawn

from podium_storage.interface import AlreadyExists, StorageError, StorageUnavailable
from podium_storage.refusals import refusal
from podium_storage.sql.engine import create_engine
from podium_storage.sql.writeturn import WriteTurn
from podium_storage.urls import is_sqlite

logger = logging.getLogger(__name__)

T = TypeVar("T")


def table(row_class: Any) -> Table:
    """The Core table of a SQLModel table class."""
    return cast(Table, row_class.__table__)


def _is_unique_violation(exc: IntegrityError) -> bool:
    original = exc.orig
    if getattr(original, "sqlstate", None) == "23505" or getattr(original, "pgcode", None) == "23505":
        return True
    return "UNIQUE constraint failed" in str(original) or "duplicate key" in str(original)


class SqlBase:
    """Holds the engines and opens one short transaction per storage operation.

    On SQLite, writes go through an engine whose transactions start with `BEGIN IMMEDIATE`
    and reads (one statement each) through one in autocommit; WAL readers never wait.
    SQLite writers take turns first (`writeturn`), so that its busy handler's sleeps do not
    pace a burst of writes from several tasks and processes.
    """

    def __init__(self, url: URL) -> None:
        self.url = url
        self._engine = create_engine(url, write=True)
        # PostgreSQL reads run in autocommit: a single statement sees one snapshot either way
        # (READ COMMITTED), and BEGIN and COMMIT would double a read's round trips.
        self._read_engine = (
            create_engine(url, write=False)
            if is_sqlite(url)
            else self._engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self._write_turn = WriteTurn(Path(url.database)) if is_sqlite(url) and url.database else None
        self._inline = is_sqlite(url)  # statements run on the event loop (`podium_storage.sql.inline`)

    async def _dispose(self) -> None:
        await self._engine.dispose()
        if self._write_turn is not None:
            self._write_turn.close()
        if self._inline:  # PostgreSQL's read engine shares the pool just disposed
            await self._read_engine.dispose()

    async def _orm(self, work: Callable[[Session], T]) -> T:
        """Run `work` with an ORM session in a write transaction (`_writing`), flushed when it returns.

        For the cold writes that read a row and change it or add one; `work` converts what it
        returns while the session is open.

        Raises:
            AlreadyExists: a unique constraint was violated.
            StorageError: another constraint was violated (e.g. an unknown project).
            StorageUnavailable: the database could not be reached or is busy.
        """

        def on(connection: Connection) -> T:
            with Session(bind=connection, expire_on_commit=False) as session:
                result = work(session)
                session.flush()
                return result

        return await self._writing(on)

    async def _deleted(self, statement: Executable) -> bool:
        """Run a DELETE (or UPDATE) in a write transaction; True when it touched a row."""
        return await self._writing(lambda connection: bool(connection.execute(statement).rowcount))

    async def _reading(self, work: Callable[[Connection], T]) -> T:
        """Run `work` (Core statements, one for a consistent read) on a connection for reading.

        Raises:
            StorageUnavailable: the database could not be reached or is busy.
        """
        async with _storage_errors():
            return await self._run(self._read_engine, work, transaction=False)

    async def _writing(self, work: Callable[[Connection], T]) -> T:
        """Run `work` (Core statements) in a write transaction, committed when it returns.

        The hot writes (runs, waiting reasons, last_seen) use it: no ORM session to set up.

        Raises:
            AlreadyExists: a unique constraint was violated.
            StorageError: another constraint was violated (e.g. an unknown project).
            StorageUnavailable: the database could not be reached or is busy.
        """
        turn = self._write_turn.taken() if self._write_turn is not None else contextlib.nullcontext()
        async with _storage_errors(), turn:
            return await self._run(self._engine, work, transaction=True)

    async def _run(self, engine: AsyncEngine, work: Callable[[Connection], T], transaction: bool) -> T:
        """`work` on a pooled connection of `engine` (in a transaction when asked).

        SQLAlchemy's async API runs each call (connect, begin, execute, commit, close) in a
        greenlet of its own, and closes a connection leaving its `async with` in a new task
        shielded from cancellation. On SQLite, whose statements run inline and never suspend
        (`podium_storage.sql.inline`), the whole call runs in one greenlet instead: a storage
        call then costs a third of the CPU, and a connection goes back to the pool before any
        other task runs (a burst of reads used to outgrow the pool, opening and closing
        connections). Nothing in it can be cancelled midway, as nothing in it suspends. On
        PostgreSQL, whose statements do suspend, SQLAlchemy's own path keeps its guarantees.
        """
        if not self._inline:
            async with engine.begin() if transaction else engine.connect() as connection:
                return await connection.run_sync(work)
        sync_engine = engine.sync_engine

        def call() -> T:
            with sync_engine.begin() if transaction else sync_engine.connect() as connection:
                return work(connection)

        return await greenlet_spawn(call)


@asynccontextmanager
async def _storage_errors() -> AsyncIterator[None]:
    """Driver errors of the block as storage errors.

    Raises:
        AlreadyExists: a unique constraint was violated.
        StorageError: another constraint was violated (e.g. an unknown project).
        StorageUnavailable: the database refuses service now (`podium_storage.refusals`).
    """
    try:
        yield
    except IntegrityError as exc:
        if _is_unique_violation(exc):
            raise AlreadyExists(str(exc.orig)) from None
        raise StorageError(f"constraint violated: {exc.orig}") from None
    except (DBAPIError, OSError, TimeoutError) as exc:
        if not refusal(exc):
            raise
        detail = exc.orig if isinstance(exc, DBAPIError) else exc
        logger.warning("database unavailable: %s", detail)
        raise StorageUnavailable(f"database unavailable: {detail}") from exc
