"""Indexes and numbered, idempotent migrations of the MongoDB schema.

`INDEXES` lists every index the queries need; `ensure_indexes` creates them (creating an
index that exists is a no-op), and `MongoStorage.open` calls it at start-up. `MIGRATIONS` is
the ordered list of schema changes; migration N brings the schema to version N, and the
version reached is kept in the `schema_version` collection (document `_id: "podium"`). Each
migration must be idempotent: a migration interrupted half-way is run again from its start.

No index names `_id` with other fields: MongoDB indexes `_id` on its own, and sorting a
filtered listing by `_id` needs no more.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from podium_storage.interface import StorageError
from podium_storage.mongo.base import Document, connect, now_ms, translate_errors

logger = logging.getLogger(__name__)

INDEXES: dict[str, list[IndexModel]] = {
    "jobs": [IndexModel([("project", ASCENDING), ("id", ASCENDING)], name="project_id")],
    "schedules": [
        IndexModel([("project", ASCENDING), ("id", ASCENDING)], name="project_id"),
        IndexModel([("project", ASCENDING), ("job", ASCENDING)], name="project_job"),
    ],
    "runs": [
        IndexModel([("status", ASCENDING)], name="status"),
        IndexModel([("worker", ASCENDING), ("status", ASCENDING)], name="worker_status"),
        IndexModel([("project", ASCENDING), ("job", ASCENDING)], name="project_job"),
        IndexModel([("created_at", DESCENDING)], name="created_at"),
        # The listing filters of SQL migration 0002: by source, and by date within a project.
        IndexModel([("project", ASCENDING), ("source.type", ASCENDING)], name="project_source_type"),
        IndexModel([("project", ASCENDING), ("created_at", DESCENDING)], name="project_created_at"),
        # The dispatcher's order (migration 5; SQL migration 0009): pending runs by priority.
        IndexModel([("status", ASCENDING), ("priority", DESCENDING)], name="status_priority"),
        # The runs whose deliveries may not all be stored (migration 6): few, found at start-up.
        IndexModel([("outbox", ASCENDING)], name="outbox", sparse=True),
        # The ended runs whose recorded retry is not inserted yet (migration 7): few, looked up at start.
        IndexModel([("retry_pending", ASCENDING)], name="retry_pending", sparse=True),
    ],
    "credentials": [
        IndexModel([("user", ASCENDING), ("kind", ASCENDING)], name="user_kind"),
        IndexModel([("secret_hash", ASCENDING)], name="secret_hash"),
    ],
    # A user's grants: those naming the user, and those of the groups holding them (migration 2).
    "grants": [
        IndexModel([("kind", ASCENDING), ("name", ASCENDING)], name="kind_name"),
        IndexModel([("project", ASCENDING)], name="project"),
    ],
    "groups": [IndexModel([("members", ASCENDING)], name="members")],
    # The filtered audit listings, newest first (migration 3; SQL migration 0004).
    "audit": [
        IndexModel([("actor", ASCENDING)], name="actor"),
        IndexModel([("action", ASCENDING)], name="action"),
        IndexModel([("target", ASCENDING)], name="target"),
    ],
    # Project secrets, listed by project and name (migration 4).
    "secrets": [IndexModel([("project", ASCENDING), ("name", ASCENDING)], name="project_name")],
    # Webhooks out (migration 6; SQL migration 0010): the sender's pending scan, the listing, retention.
    "deliveries": [
        IndexModel([("status", ASCENDING)], name="status"),
        IndexModel([("project", ASCENDING)], name="project"),
        IndexModel([("run", ASCENDING)], name="run"),
    ],
    # The database log store (migration 8; SQL migration 0014): a run's chunks by offset, unique
    # (the compare-and-set of an append).
    "log_chunks": [IndexModel([("log", ASCENDING), ("start", ASCENDING)], name="log_start", unique=True)],
}

VERSION_COLLECTION = "schema_version"
VERSION_ID = "podium"

Migration = Callable[[AsyncDatabase[Document]], Awaitable[None]]


async def ensure_indexes(db: AsyncDatabase[Document]) -> None:
    """Create every index of `INDEXES` that is missing."""
    for collection, indexes in INDEXES.items():
        await db[collection].create_indexes(indexes)


async def _0001_initial(db: AsyncDatabase[Document]) -> None:
    """The first schema: the collections' indexes."""
    await ensure_indexes(db)


async def _0002_project_access(db: AsyncDatabase[Document]) -> None:
    """Grants and groups (SQL migration 0003): their indexes. Credentials gain optional fields only."""
    await ensure_indexes(db)


async def _0003_audit(db: AsyncDatabase[Document]) -> None:
    """The audit log (SQL migration 0004): its indexes."""
    await ensure_indexes(db)


async def _0004_secrets(db: AsyncDatabase[Document]) -> None:
    """Project secrets (SQL migration 0005): the index of their collection."""
    await ensure_indexes(db)


async def _0005_run_priority(db: AsyncDatabase[Document]) -> None:
    """Run priorities (SQL migration 0009): the dispatcher's index, and priority 0 on the runs
    that can still be dispatched (pending or running, since a running run may go back to pending),
    so that the dispatcher's query on `priority` finds them. Final runs read as 0 without it."""
    await db.runs.update_many(
        {"status": {"$in": ["pending", "running"]}, "priority": {"$exists": False}}, {"$set": {"priority": 0}}
    )
    await ensure_indexes(db)


async def _0006_deliveries(db: AsyncDatabase[Document]) -> None:
    """Webhooks out (SQL migration 0010): the indexes of deliveries, and of the runs marked `outbox`."""
    await ensure_indexes(db)


async def _0007_run_retries(db: AsyncDatabase[Document]) -> None:
    """Retries (SQL migration 0011): the index of `retry_pending`; runs without `attempt` read as attempt 1."""
    await ensure_indexes(db)


async def _0008_log_chunks(db: AsyncDatabase[Document]) -> None:
    """The database log store (SQL migration 0014): the unique index of `log_chunks`."""
    await ensure_indexes(db)


async def _0009_delivery_claims(db: AsyncDatabase[Document]) -> None:
    """Deliveries claimed before they are sent (SQL migration 0016): nothing to convert, a delivery
    without `claimed_by`/`claimed_until` is unclaimed; the version says the sender claims."""
    await ensure_indexes(db)


MIGRATIONS: list[Migration] = [
    _0001_initial,
    _0002_project_access,
    _0003_audit,
    _0004_secrets,
    _0005_run_priority,
    _0006_deliveries,
    _0007_run_retries,
    _0008_log_chunks,
    _0009_delivery_claims,
]
"""Migration N (1-based) brings the schema to version N; append, never reorder or remove."""

LATEST_VERSION = len(MIGRATIONS)


async def schema_version(db: AsyncDatabase[Document]) -> int:
    """The schema version the database holds (0 when never migrated)."""
    document = await db[VERSION_COLLECTION].find_one({"_id": VERSION_ID})
    return 0 if document is None else int(document["version"])


async def migrate_database(db: AsyncDatabase[Document]) -> int:
    """Run the migrations the database lacks, in order; the version reached.

    Raises:
        StorageError: the database is newer than this code knows.
    """
    current = await schema_version(db)
    if current > LATEST_VERSION:
        raise StorageError(f"the database schema is version {current}, newer than this Podium ({LATEST_VERSION})")
    for number in range(current + 1, LATEST_VERSION + 1):
        migration = MIGRATIONS[number - 1]
        logger.info("applying MongoDB migration %d (%s) to %s", number, migration.__name__, db.name)
        await migration(db)
        await db[VERSION_COLLECTION].update_one(
            {"_id": VERSION_ID}, {"$set": {"version": number, "updated_at": now_ms()}}, upsert=True
        )
    return LATEST_VERSION


async def migrate_mongo(url: str) -> int:
    """Bring the MongoDB database of `url` to the newest schema version; the version reached.

    Raises:
        StorageUnavailable: the server cannot be reached.
        StorageError: the database is newer than this code knows, or a migration failed.
    """
    client, db = connect(url)
    try:
        with translate_errors():
            return await migrate_database(db)
    finally:
        await client.close()
