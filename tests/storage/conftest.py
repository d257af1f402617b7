"""Fixtures of the storage contract suite: a migrated, empty storage on SQLite and PostgreSQL.

Creating and migrating a database per test costs about a second on PostgreSQL, so each kind
of database is created and migrated once per session, and every test starts by emptying all
its tables: each test still sees an empty, fully migrated database. Tests of migrations and
of the admin command use `database_url` (a brand-new database) instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from podium_storage import Storage, migrate, open_storage
from podium_storage.sql import metadata
from podium_storage.sql.engine import create_engine
from podium_storage.urls import sql_url
from tests.conftest import DATABASES
from tests.databases import fresh_database
from tests.mongo_server import mongo_server, mongo_url

__all__ = ["mongo_server", "mongo_url"]  # fixtures the MongoDB parameter uses


class _MigratedDatabases:
    """One migrated database per kind, created on first use and dropped at the session's end."""

    def __init__(self, directory: Path, stack: ExitStack) -> None:
        self.directory = directory
        self.stack = stack
        self.urls: dict[str, str] = {}

    def url(self, kind: str) -> str:
        if kind not in self.urls:
            url = self.stack.enter_context(fresh_database(kind, self.directory / kind))
            (self.directory / kind).mkdir(parents=True, exist_ok=True)
            asyncio.run(migrate(url))
            self.urls[kind] = url
        return self.urls[kind]


@pytest.fixture(scope="session")
def migrated_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_MigratedDatabases]:
    """The session's migrated databases."""
    with ExitStack() as stack:
        yield _MigratedDatabases(tmp_path_factory.mktemp("storage"), stack)


@pytest.fixture(params=[*DATABASES, pytest.param("mongodb", marks=pytest.mark.mongodb)])
def migrated_url(request: pytest.FixtureRequest, migrated_databases: _MigratedDatabases) -> str:
    """The URL of a migrated, empty database: on SQLite, PostgreSQL and MongoDB."""
    if request.param == "mongodb":
        # A fresh database per test: nx-27017 keeps TTL indexes across a drop.
        url: str = request.getfixturevalue("mongo_url")
        asyncio.run(migrate(url))
        return url
    url = migrated_databases.url(request.param)
    asyncio.run(empty_database(url))
    return url


async def empty_database(url: str) -> None:
    """Delete every row of every table, children first."""
    engine = create_engine(sql_url(url))
    try:
        async with engine.begin() as connection:
            for table in reversed(metadata.sorted_tables):
                await connection.execute(table.delete())
    finally:
        await engine.dispose()


@pytest.fixture
async def storage(migrated_url: str) -> AsyncIterator[Storage]:
    """A storage on an empty, migrated database."""
    async with open_storage(migrated_url) as opened:
        yield opened
