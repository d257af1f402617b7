"""`MongoStorage`: the storage interface on PyMongo's native async client."""

from __future__ import annotations

import logging
from pathlib import Path

from podium_storage.interface import Storage
from podium_storage.leadership import Leadership
from podium_storage.logs import LogStore
from podium_storage.mongo.access import AccessStore
from podium_storage.mongo.audit import AuditStore
from podium_storage.mongo.backup import BackupStore
from podium_storage.mongo.base import connect, translate_errors
from podium_storage.mongo.catalog import CatalogStore
from podium_storage.mongo.deliveries import DeliveryStore
from podium_storage.mongo.leadership import LeaseLeadership
from podium_storage.mongo.logs import MongoLogStore
from podium_storage.mongo.migrations import ensure_indexes
from podium_storage.mongo.runs import RunStore
from podium_storage.mongo.secrets import SecretStore
from podium_storage.mongo.users import UserStore
from podium_storage.mongo.workers import WorkerStore

logger = logging.getLogger(__name__)


class MongoStorage(
    CatalogStore,
    RunStore,
    DeliveryStore,
    WorkerStore,
    UserStore,
    AccessStore,
    AuditStore,
    SecretStore,
    BackupStore,
    Storage,
):
    """Everything Podium persists, in one MongoDB database (named by the URL path, default `podium`).

    Build it with `await MongoStorage.open(url)`; `close()` releases the connections.
    """

    @classmethod
    async def open(cls, url: str, server_timeout_ms: int = 5000) -> MongoStorage:
        """Connect to `url` and create the indexes the queries need (idempotent).

        Args:
            url: `mongodb://[user:password@]host[:port][/database][?options]` (or `mongodb+srv://`).
            server_timeout_ms: how long an operation waits for a reachable server.

        Raises:
            UnsupportedDatabaseUrl: the URL is malformed.
            StorageUnavailable: the server cannot be reached.
        """
        client, db = connect(url, server_timeout_ms)
        storage = cls(client, db)
        try:
            with translate_errors():
                await ensure_indexes(db)
        except BaseException:
            await client.close()
            raise
        logger.info("MongoDB storage open on database %s", db.name)
        return storage

    def leadership(self) -> Leadership:
        """A lease document (`mongo.leadership`): several masters may share the database."""
        return LeaseLeadership(self._db)

    def database_logs(self, artifacts: Path | None) -> LogStore:
        """The logs as chunk documents in `log_chunks` (`mongo.logs`)."""
        return MongoLogStore(self._db, artifacts)

    async def close(self) -> None:
        """Release connections."""
        await self._client.close()

    async def ping(self) -> None:
        """Check the database answers.

        Raises:
            StorageUnavailable: it does not.
        """
        with translate_errors():
            await self._client.admin.command("ping")
