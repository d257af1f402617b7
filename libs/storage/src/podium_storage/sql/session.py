"""Engines, sessions and the mapping of driver errors to storage errors."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from podium_storage.interface import AlreadyExists, StorageError, StorageUnavailable
from podium_storage.sql.engine import create_engine
from podium_storage.urls import is_sqlite

logger = logging.getLogger(__name__)


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
    and reads through one that starts with a plain `BEGIN`, so WAL readers never wait.
    """

    def __init__(self, url: URL) -> None:
        self.url = url
        self._engine = create_engine(url, write=True)
        self._read_engine = create_engine(url, write=False) if is_sqlite(url) else self._engine
        self._writer = async_sessionmaker(self._engine, expire_on_commit=False)
        self._reader = async_sessionmaker(self._read_engine, expire_on_commit=False)

    async def _dispose(self) -> None:
        await self._engine.dispose()
        if self._read_engine is not self._engine:
            await self._read_engine.dispose()

    @asynccontextmanager
    async def _session(self, write: bool = True) -> AsyncIterator[AsyncSession]:
        """A session in a transaction, committed when the block ends without error.

        Raises:
            AlreadyExists: a unique constraint was violated.
            StorageError: another constraint was violated (e.g. an unknown project).
            StorageUnavailable: the database could not be reached or is busy.
        """
        try:
            async with (self._writer if write else self._reader)() as session, session.begin():
                yield session
        except IntegrityError as exc:
            if _is_unique_violation(exc):
                raise AlreadyExists(str(exc.orig)) from None
            raise StorageError(f"constraint violated: {exc.orig}") from None
        except (OperationalError, InterfaceError) as exc:
            logger.warning("database unavailable: %s", exc.orig)
            raise StorageUnavailable(f"database unavailable: {exc.orig}") from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise StorageUnavailable(f"database connection lost: {exc.orig}") from exc
            raise
        except (OSError, TimeoutError) as exc:
            logger.warning("database unreachable: %s", exc)
            raise StorageUnavailable(f"database unreachable: {exc}") from exc
