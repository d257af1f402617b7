"""Workers in MongoDB: one document per worker, `_id` its id."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from pymongo import ReturnDocument

from podium_model import Worker, WorkerUpdate
from podium_storage.interface import AlreadyExists, StorageError
from podium_storage.mongo import convert
from podium_storage.mongo.base import Document, MongoBase, dump, ms, now_ms, translate_errors

_DEFAULTS: Document = {
    "version": "",
    "display_name": "",
    "properties": dump({}),
    "executor_limit": 1,
    "is_enabled": True,
    "is_active": False,
    "should_disconnect": False,
    "last_seen": None,
    "master": None,
}


def _changes(changes: WorkerUpdate) -> Document:
    """The fields set in `changes`, in their stored form (a None sets nothing)."""
    set_fields = changes.model_dump(exclude_unset=True)
    values: Document = {name: value for name, value in set_fields.items() if value is not None}
    if "properties" in values:
        values["properties"] = dump(values["properties"])
    if "last_seen" in values:
        values["last_seen"] = ms(values["last_seen"])
    return values


class WorkerStore(MongoBase):
    """The worker methods of `MongoStorage`."""

    async def get_worker(self, id: str) -> Worker | None:
        """One worker."""
        with translate_errors():
            document = await self._db.workers.find_one({"_id": id})
        return None if document is None else convert.worker(document)

    async def list_workers(self) -> list[Worker]:
        """Every worker, by id."""
        with translate_errors():
            return [convert.worker(document) async for document in self._db.workers.find().sort("_id", 1)]

    async def put_worker(self, id: str, owner: str, changes: WorkerUpdate) -> Worker:
        """Create a worker or update it with the fields set in `changes`."""
        values = {**_changes(changes), "owner": owner}
        for _ in range(3):
            document = await self._set(self._db.workers, id, values)
            if document is not None:
                return convert.worker(document)
            now = now_ms()
            document = {"_id": id, **_DEFAULTS, **values, "created_at": now, "updated_at": now}
            try:
                with translate_errors():
                    await self._db.workers.insert_one(document)
                return convert.worker(document)
            except AlreadyExists:  # created meanwhile by another caller: update it instead
                continue
        raise StorageError(f"worker {id!r} changed concurrently; retry")

    async def update_worker(self, id: str, changes: WorkerUpdate) -> Worker | None:
        """Write the fields set in `changes`; None if unknown."""
        document = await self._set(self._db.workers, id, _changes(changes))
        return None if document is None else convert.worker(document)

    async def touch_workers(self, ids: Collection[str], seen: datetime) -> None:
        """Set `last_seen` of these workers (unknown ids are ignored), in one write."""
        if not ids:
            return
        with translate_errors():
            await self._db.workers.update_many({"_id": {"$in": list(ids)}}, {"$set": {"last_seen": ms(seen)}})

    async def deactivate_workers(self, master: str | None = None, seen_before: datetime | None = None) -> int:
        """Mark workers inactive (every one, or those of `master` or of none, or those unseen since `seen_before`)."""
        query: Document = {"is_active": True}
        which: list[Document] = []
        if master is not None:
            which += [{"master": master}, {"master": None}]
        if seen_before is not None:
            which += [{"last_seen": None}, {"last_seen": {"$lt": ms(seen_before)}}]
        if which:
            query["$or"] = which
        with translate_errors():
            result = await self._db.workers.update_many(query, {"$set": {"is_active": False, "updated_at": now_ms()}})
        return result.modified_count

    async def release_worker(self, id: str, master: str) -> Worker | None:
        """Mark the worker inactive if `master` still holds it; None if another master took it."""
        with translate_errors():
            document = await self._db.workers.find_one_and_update(
                {"_id": id, "master": master},
                {"$set": {"is_active": False, "updated_at": now_ms()}},
                return_document=ReturnDocument.AFTER,
            )
        return None if document is None else convert.worker(document)
