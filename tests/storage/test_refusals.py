"""Every database refusal is `StorageUnavailable`: the classification of the three drivers' errors."""

from __future__ import annotations

import asyncio
import sqlite3
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from pymongo.errors import NotPrimaryError, OperationFailure, ServerSelectionTimeoutError, WriteError
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from podium_storage import StorageUnavailable, open_storage
from podium_storage.refusals import refusal
from tests.databases import _execute, fresh_postgres


def _asyncpg(error: Exception) -> DBAPIError:
    """`error` as SQLAlchemy raises it from asyncpg: its dialect's generic Error in a plain DBAPIError."""
    adapted = AsyncAdapt_asyncpg_dbapi.Error(str(error), error)
    return DBAPIError.instance("SELECT 1", None, adapted, AsyncAdapt_asyncpg_dbapi.Error)


REFUSALS = {
    "sqlite-busy": OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")),
    "sqlite-raw-locked": sqlite3.OperationalError("database table is locked"),
    "pg-starting-up": _asyncpg(asyncpg.exceptions.CannotConnectNowError("the database system is starting up")),
    "pg-too-many-clients": _asyncpg(asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already")),
    "pg-admin-shutdown": _asyncpg(asyncpg.exceptions.AdminShutdownError("terminating connection")),
    "pg-not-accepting": _asyncpg(
        asyncpg.exceptions.ObjectNotInPrerequisiteStateError('database "x" is not currently accepting connections')
    ),
    "pg-connection-gone": _asyncpg(asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")),
    "pg-read-only-standby": _asyncpg(asyncpg.exceptions.ReadOnlySQLTransactionError("read-only transaction")),
    "pg-raw": asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"),
    "socket": ConnectionRefusedError(111, "Connection refused"),
    "mongo-selection": ServerSelectionTimeoutError("no servers found yet"),
    "mongo-not-primary": NotPrimaryError("not primary"),
    "mongo-shutdown": OperationFailure("interrupted at shutdown", code=11600),
    "mongo-stepped-down": OperationFailure("primary stepped down", code=189),
}
NOT_REFUSALS = {
    "pg-syntax": ProgrammingError("SELEC", None, Exception("syntax error")),
    "pg-lock-held": _asyncpg(asyncpg.exceptions.ObjectNotInPrerequisiteStateError("cannot DROP: in use")),
    "pg-division": _asyncpg(asyncpg.exceptions.DivisionByZeroError("division by zero")),
    "sqlite-raw-other": sqlite3.OperationalError("no such function: nope"),
    "mongo-write": WriteError("document failed validation", code=121),
    "bug": ValueError("a bug"),
}


@pytest.mark.parametrize("error", REFUSALS.values(), ids=REFUSALS.keys())
def test_refusals_of_every_driver_are_recognised(error: BaseException) -> None:
    """SQLite busy/locked, PostgreSQL's connection refusals and shutdowns, MongoDB selection and not-primary."""
    assert refusal(error)


@pytest.mark.parametrize("error", NOT_REFUSALS.values(), ids=NOT_REFUSALS.keys())
def test_other_errors_are_not_refusals(error: BaseException) -> None:
    """A bug or a refused statement is no reason to retry."""
    assert not refusal(error)


async def _refused_then_back(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    admin = urlunsplit(("postgresql", urlsplit(url).netloc, "/postgres", "", ""))
    async with open_storage(url) as storage:
        await storage.ping()
        await _execute(admin, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            await _execute(admin, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
            for _ in range(2):  # the terminated pooled connection, then a new one refused
                with pytest.raises(StorageUnavailable):
                    await storage.ping()
        finally:
            await _execute(admin, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await storage.ping()


@pytest.mark.postgres
def test_a_database_not_accepting_connections_is_unavailable() -> None:
    """ALLOW_CONNECTIONS false and terminated backends: StorageUnavailable (was a plain DBAPIError); then back."""
    with fresh_postgres() as url:
        asyncio.run(_refused_then_back(url))
