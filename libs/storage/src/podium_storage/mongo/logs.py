"""The database log store on MongoDB: a run's log as contiguous chunk documents (migration 8).

Collection `log_chunks`, one document per append: the chunk the worker sent (up to its
`--chunk-size`, 1 MiB by default; at most the master's `--max-chunk-size` of 4 MiB, far below
MongoDB's 16 MiB document limit), as `log` (`project/run`), `start`, `end`, `data`. A unique
index on (log, start) is the compare-and-set: an append checks that the log ends at `start`
(the last chunk's `end`), then inserts; of two writers racing at one offset exactly one insert
passes the index, and a writer at any other offset fails the check, as chunks only ever start
where one ends. GridFS was not used: its files are written once, not appended to.
"""

from __future__ import annotations

from pathlib import Path

from pymongo import DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from podium_storage.logs import LogOffsetMismatch, LogStore, LogStoreKind, check_ids
from podium_storage.mongo.base import Document, key, translate_errors


class MongoLogStore(LogStore):
    """Run logs in the storage's MongoDB database; artifacts under `root`."""

    kind: LogStoreKind = "database"

    def __init__(self, db: AsyncDatabase[Document], root: Path | str | None) -> None:
        super().__init__(root)
        self._chunks: AsyncCollection[Document] = db.log_chunks

    def _log(self, project: str, run_id: str) -> str:
        check_ids(project, run_id)
        return key(project, run_id)

    async def _size(self, log: str) -> int:
        last = await self._chunks.find_one({"log": log}, {"end": 1, "_id": 0}, sort=[("start", DESCENDING)])
        return 0 if last is None else int(last["end"])

    async def size(self, project: str, run_id: str) -> int:
        """The end of the run's last chunk (0 when none)."""
        log = self._log(project, run_id)
        with translate_errors():
            return await self._size(log)

    async def append(self, project: str, run_id: str, offset: int, data: bytes) -> int:
        """Insert `data` as the chunk at `offset` if the log ends there; see `LogStore.append`."""
        log = self._log(project, run_id)
        with translate_errors():
            held = await self._size(log)
            if held != offset:
                raise LogOffsetMismatch(held)
            if not data:  # no document: an empty chunk would take the offset of the next real one
                return held
            try:
                await self._chunks.insert_one({"log": log, "start": offset, "end": offset + len(data), "data": data})
            except DuplicateKeyError:  # another writer stored a chunk at this offset first
                raise LogOffsetMismatch(await self._size(log)) from None
        return offset + len(data)

    async def read(self, project: str, run_id: str, offset: int = 0, limit: int | None = None) -> bytes:
        """The chunks overlapping [offset, offset + limit), cut to that range."""
        log = self._log(project, run_id)
        if limit is not None and limit <= 0:
            return b""
        with translate_errors():
            first = await self._chunks.find_one(
                {"log": log, "start": {"$lte": offset}}, {"start": 1, "_id": 0}, sort=[("start", DESCENDING)]
            )
            if first is None:
                return b""
            bounds: Document = {"$gte": first["start"]}
            if limit is not None:
                bounds["$lt"] = offset + limit
            cursor = self._chunks.find({"log": log, "start": bounds}, {"data": 1, "_id": 0}).sort("start", 1)
            pieces = [bytes(document["data"]) async for document in cursor]
        skip = offset - int(first["start"])
        joined = b"".join(pieces)
        return joined[skip : None if limit is None else skip + limit]

    async def _delete_log(self, project: str, run_id: str) -> bool:
        log = self._log(project, run_id)
        with translate_errors():
            return (await self._chunks.delete_many({"log": log})).deleted_count > 0
