"""MongoStorage start-up: migrations, indexes, URLs, ping and an unreachable server."""

from __future__ import annotations

import pytest
from pymongo import AsyncMongoClient

from podium_model import RunSource
from podium_storage.interface import StorageUnavailable
from podium_storage.mongo import LATEST_VERSION, MongoStorage, migrate_mongo
from podium_storage.mongo.base import connect
from podium_storage.mongo.migrations import INDEXES
from podium_storage.urls import UnsupportedDatabaseUrl
from tests.support import free_port


async def test_migrate_is_idempotent_and_records_version(mongo_url: str) -> None:
    """Migrating twice reaches the latest version and records it in `schema_version`."""
    assert await migrate_mongo(mongo_url) == LATEST_VERSION
    assert await migrate_mongo(mongo_url) == LATEST_VERSION
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_url)
    try:
        document = await client.get_default_database().schema_version.find_one({"_id": "podium"})
    finally:
        await client.close()
    assert document is not None and document["version"] == LATEST_VERSION


async def test_open_creates_indexes_and_uses_url_database(mongo_url: str) -> None:
    """Opening creates the query indexes in the database the URL names."""
    storage = await MongoStorage.open(mongo_url)
    try:
        await storage.ping()
        assert storage.database_name == mongo_url.rsplit("/", 1)[1]
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_url)
        try:
            keys = {tuple(i["key"]) async for i in await client.get_default_database().runs.list_indexes()}
        finally:
            await client.close()
        # Compared by keys: nx-27017 names indexes its own way.
        assert {tuple(index.document["key"]) for index in INDEXES["runs"]} <= keys
    finally:
        await storage.close()


async def test_reopen_keeps_data(mongo_url: str) -> None:
    """A second open of the same database sees what the first wrote."""
    first = await MongoStorage.open(mongo_url)
    run = await first.create_run("p", "build", {}, RunSource())
    await first.close()
    second = await MongoStorage.open(mongo_url)
    try:
        assert await second.get_run(run.id) == run
    finally:
        await second.close()


async def test_database_defaults_to_podium(mongo_server: str) -> None:
    """A URL without a path uses the database `podium`."""
    storage = await MongoStorage.open(mongo_server + "/")
    try:
        assert storage.database_name == "podium"
    finally:
        await storage.close()


async def test_unreachable_server_is_unavailable() -> None:
    """A server that does not answer raises StorageUnavailable, quickly."""
    with pytest.raises(StorageUnavailable):
        await MongoStorage.open(f"mongodb://127.0.0.1:{free_port()}/x", server_timeout_ms=300)


def test_malformed_url_is_refused() -> None:
    """A malformed MongoDB URL raises UnsupportedDatabaseUrl."""
    with pytest.raises(UnsupportedDatabaseUrl):
        connect("mongodb://host:notaport/x")
