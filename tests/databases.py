"""Fresh databases for tests: a SQLite file, or a new PostgreSQL database per use."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from tests.support import CI, POSTGRES_URL


def sqlite_url(directory: Path) -> str:
    """An async SQLite URL for a database file in `directory`."""
    return f"sqlite+aiosqlite:///{directory / 'podium.db'}"


async def _execute(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def postgres_available() -> bool:
    """True if the test PostgreSQL server answers; with CI=true its absence fails the test."""
    try:
        asyncio.run(_execute(POSTGRES_URL, "SELECT 1"))
        return True
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        if CI:
            pytest.fail(f"PostgreSQL is required in CI but {POSTGRES_URL} does not answer: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}")


@contextmanager
def fresh_postgres() -> Iterator[str]:
    """Create a new, empty PostgreSQL database; yield its asyncpg URL; drop it afterwards."""
    postgres_available()
    name = f"podium_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_execute(POSTGRES_URL, f'CREATE DATABASE "{name}"'))
    parts = urlsplit(POSTGRES_URL)
    url = urlunsplit(("postgresql+asyncpg", parts.netloc, f"/{name}", parts.query, ""))
    try:
        yield url
    finally:
        asyncio.run(_execute(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def fresh_database(kind: str, directory: Path) -> Iterator[str]:
    """A fresh database URL of `kind` ("sqlite" or "postgresql")."""
    if kind == "sqlite":
        yield sqlite_url(directory)
    elif kind == "postgresql":
        with fresh_postgres() as url:
            yield url
    else:
        raise ValueError(f"unknown database kind {kind!r}")
