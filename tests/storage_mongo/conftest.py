"""Fixtures of the MongoDB storage tests: a migrated `MongoStorage` on a fresh database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from podium_storage.mongo import MongoStorage, migrate_mongo
from tests.mongo_server import mongo_server, mongo_url

__all__ = ["mongo_server", "mongo_url"]


@pytest.fixture
async def storage(mongo_url: str) -> AsyncIterator[MongoStorage]:
    """A `MongoStorage` on a fresh, migrated database."""
    await migrate_mongo(mongo_url)
    opened = await MongoStorage.open(mongo_url)
    try:
        yield opened
    finally:
        await opened.close()
