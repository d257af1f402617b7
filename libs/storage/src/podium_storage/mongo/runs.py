"""Runs in MongoDB: creation, keyset-paginated listings and compare-and-set transitions.

A run's `_id` is its UUIDv7 string, so sorting by `_id` sorts by creation time: "newest
first" is `_id` descending and the listing cursor is the last `_id` seen.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Sequence

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from podium_model import Page, Run, RunFilter, RunSource, RunStatus, RunUpdate
from podium_storage.cursors import decode_cursor, encode_cursor, page_limit
from podium_storage.interface import PendingCursor, RunWrite
from podium_storage.mongo import convert
from podium_storage.mongo.base import Document, MongoBase, dump, ms, now_ms, translate_errors
from podium_storage.mongo.deliveries import OUTBOX, store_deliveries
from podium_storage.newrun import new_run_fields
from podium_storage.retries import follow_up


def run_query(filter: RunFilter) -> Document:
    """The MongoDB query of a run filter (all conditions combined with AND)."""
    query: Document = {}
    if filter.project is not None:
        query["project"] = filter.project
    if filter.job is not None:
        query["job"] = filter.job
    if filter.status:
        query["status"] = {"$in": [RunStatus(status).value for status in filter.status]}
    if filter.worker is not None:
        query["worker"] = filter.worker
    if filter.source is not None:
        query["source.type"] = filter.source
    created: Document = {}
    if filter.created_after is not None:
        created["$gte"] = ms(filter.created_after)
    if filter.created_before is not None:
        created["$lt"] = ms(filter.created_before)
    if created:
        query["created_at"] = created
    if filter.completed_before is not None:
        query["completed_at"] = {"$ne": None, "$lt": ms(filter.completed_before)}
    return query


def _changes(changes: RunUpdate | None) -> Document:
    """The fields set in `changes`, in their stored form."""
    values: Document = {} if changes is None else changes.model_dump(exclude_unset=True)
    for name in ("assigned_at", "started_at", "completed_at"):
        if name in values:
            values[name] = ms(values[name])
    if "results" in values:
        values["results"] = dump(values["results"] if values["results"] is not None else {})
    if "steps" in values:  # fixed keys: stored as their JSON, dates as text
        values["steps"] = changes.model_dump(mode="json", include={"steps"})["steps"] if changes else []
    return values


def _new_document(fields: Document) -> Document:
    """A new run's fields (`new_run_fields`) as its document."""
    document = dict(fields)
    document["_id"] = document.pop("id")
    document["parameters"] = dump(document["parameters"])
    document["results"] = dump(document["results"])
    for name in ("created_at", "updated_at", "not_before"):
        document[name] = ms(document[name])
    return document


class RunStore(MongoBase):
    """The run methods of `MongoStorage`."""

    async def create_run(
        self,
        project: str,
        job: str,
        parameters: dict[str, str],
        source: RunSource,
        run_id: str | None = None,
        secret_parameters: Sequence[str] = (),
        *,
        priority: int = 0,
        concurrency_key: str | None = None,
    ) -> Run:
        """Store a new pending run (id: a new UUIDv7 unless given).

        Raises:
            AlreadyExists: `run_id` is taken.
        """
        fields = new_run_fields(
            project, job, parameters, source, run_id, now_ms(), secret_parameters, priority, concurrency_key
        )
        document = _new_document(fields)
        with translate_errors():
            await self._db.runs.insert_one(document)
        return convert.run(document)

    async def get_run(self, run_id: str) -> Run | None:
        """One run by its id."""
        with translate_errors():
            document = await self._db.runs.find_one({"_id": run_id})
        return None if document is None else convert.run(document)

    async def list_runs(self, filter: RunFilter, limit: int = 50, cursor: str | None = None) -> Page[Run]:
        """Runs matching `filter`, newest first, one page at a time (keyset cursor on the id).

        Raises:
            InvalidCursor: `cursor` was not produced by this method.
        """
        limit = page_limit(limit)
        query = run_query(filter)
        if cursor is not None:
            query["_id"] = {"$lt": decode_cursor(cursor)}
        with translate_errors():
            documents = [d async for d in self._db.runs.find(query).sort("_id", -1).limit(limit + 1)]
        items = [convert.run(document) for document in documents[:limit]]
        next_cursor = encode_cursor(items[-1].id) if len(documents) > limit else None
        return Page[Run](items=items, next_cursor=next_cursor)

    async def list_pending_runs(self, limit: int = 1000, after: PendingCursor | None = None) -> list[Run]:
        """Pending runs, highest priority first, oldest first within one; after the cursor `after` when given.

        A later page reads two ranges (the rest of the last run's priority, then those below), as the SQL
        backend does.
        """
        pending = RunStatus.pending.value
        if after is None:
            return await self._pending({"status": pending}, limit)
        priority, after_id = after
        runs = await self._pending({"status": pending, "priority": priority, "_id": {"$gt": after_id}}, limit)
        if len(runs) < limit:
            runs += await self._pending({"status": pending, "priority": {"$lt": priority}}, limit - len(runs))
        return runs

    async def _pending(self, query: Document, limit: int) -> list[Run]:
        with translate_errors():
            cursor = self._db.runs.find(query).sort([("priority", -1), ("_id", 1)]).limit(max(1, limit))
            return [convert.run(document) async for document in cursor]

    async def list_active_runs(self, worker: str | None = None) -> list[Run]:
        """Running runs (of one worker, or all), oldest first."""
        query: Document = {"status": RunStatus.running.value}
        if worker is not None:
            query["worker"] = worker
        with translate_errors():
            return [convert.run(document) async for document in self._db.runs.find(query).sort("_id", 1)]

    async def transition_run(
        self, run_id: str, expected: Collection[RunStatus], to: RunStatus, changes: RunUpdate | None = None
    ) -> Run | None:
        """Compare-and-set: move a run to `to` only if its status is in `expected`.

        One `find_one_and_update` whose filter holds the expected statuses: the server decides
        atomically, so two callers, or a replayed message, can never move a run twice. None when
        the run is unknown or in another status.
        """
        return await self._transition(RunWrite(run_id, changes, to, tuple(expected)))

    async def _transition(self, write: RunWrite) -> Run | None:
        if not write.expected or write.to is None:
            return None
        values = {**_changes(write.changes), "status": RunStatus(write.to).value, "updated_at": now_ms()}
        # The outbox's first step, atomic with the status (`podium_storage.mongo.deliveries`).
        outbox = bool(write.notifications) and write.to.is_final
        if outbox:
            values[OUTBOX] = True
        query: Document = {"_id": write.run_id, "status": {"$in": [RunStatus(s).value for s in write.expected]}}
        if write.to.is_final:
            query["retry"] = None  # a run without a retry policy (null or absent) ends in this one query
        with translate_errors():
            document = await self._db.runs.find_one_and_update(
                query, {"$set": values}, return_document=ReturnDocument.AFTER
            )
        if document is None and write.to.is_final:
            document = await self._end_retried(query, values)
        if document is None:
            return None
        run = convert.run(document)
        if outbox and write.notifications is not None:
            await store_deliveries(self._db, run, write.notifications)
        return run

    async def write_runs(self, writes: Sequence[RunWrite]) -> list[Run | None]:
        """Apply `writes` in order, one atomic update each (see `Storage.write_runs`)."""
        results: list[Run | None] = []
        for write in writes:
            if write.to is None:
                results.append(await self.update_run(write.run_id, write.changes or RunUpdate()))
            else:
                results.append(await self._transition(write))
        return results

    async def _end_retried(self, query: Document, values: Document) -> Document | None:
        """The compare-and-set of a final status for a run that holds a retry policy; the run's new document.

        The follow-up's id is recorded on the ended run, with `retry_pending`, in the same
        single-document update that stores the final status; the follow-up is inserted next and
        the flag removed. A master stopped in between leaves the flag, and `resume_retries`
        inserts the follow-up under the recorded id at its next start: never lost, never twice.
        """
        del query["retry"]
        with translate_errors():
            before = await self._db.runs.find_one(query)
        if before is None or before.get("retry") is None:
            return None  # unknown, in another status, or moved meanwhile
        now = now_ms()
        fields = follow_up(convert.run({**before, **values}), now)
        if fields is not None:
            values = {**values, "retried_by": fields["id"], "retry_pending": True}
            query["retried_by"] = None
        with translate_errors():
            document = await self._db.runs.find_one_and_update(
                query, {"$set": values}, return_document=ReturnDocument.AFTER
            )
        if document is not None and fields is not None:
            await self._insert_follow_up(fields)
        return document

    async def _insert_follow_up(self, fields: Document) -> None:
        """Insert a recorded follow-up (once: its id is fixed), then clear its run's `retry_pending`."""
        with translate_errors():
            payload = await self._db.payloads.find_one({"_id": fields["source"]["run"]})
            if payload is not None:  # a webhook run's body goes to its retry too, before the run exists
                with contextlib.suppress(DuplicateKeyError):
                    await self._db.payloads.insert_one({"_id": fields["id"], "payload": payload["payload"]})
            with contextlib.suppress(DuplicateKeyError):  # inserted already, before a stop
                await self._db.runs.insert_one(_new_document(fields))
            await self._db.runs.update_one({"_id": fields["source"]["run"]}, {"$unset": {"retry_pending": ""}})

    async def resume_retries(self) -> int:
        """Insert the follow-ups recorded on ended runs but not inserted (a stop in between); how many."""
        with translate_errors():
            pending = [document async for document in self._db.runs.find({"retry_pending": True})]
        now = now_ms()
        for document in pending:
            run = convert.run(document)
            fields = follow_up(run, now, run_id=run.retried_by)
            if fields is None:  # the policy was valid when recorded: nothing else clears the flag
                await self._db.runs.update_one({"_id": run.id}, {"$unset": {"retry_pending": ""}})
                continue
            await self._insert_follow_up(fields)
        return len(pending)

    async def update_run(self, run_id: str, changes: RunUpdate) -> Run | None:
        """Write the fields set in `changes` (never the status); None if unknown."""
        document = await self._set(self._db.runs, run_id, _changes(changes))
        return None if document is None else convert.run(document)

    async def put_run_payload(self, run_id: str, payload: str) -> None:
        """Store the request body of a webhook run (collection `payloads`, `_id` the run's id).

        Raises:
            AlreadyExists: the run holds a payload already.
        """
        with translate_errors():
            await self._db.payloads.insert_one({"_id": run_id, "payload": payload})

    async def get_run_payload(self, run_id: str) -> str | None:
        """The request body of a webhook run; None for any other run."""
        with translate_errors():
            document = await self._db.payloads.find_one({"_id": run_id})
        return None if document is None else str(document["payload"])
