"""Deliveries of webhooks out in MongoDB, and the outbox without multi-document transactions.

The server may be a standalone one, without transactions, so the outbox takes two steps: the
atomic update that moves a run to its final status also sets `outbox: true` on the run; the
deliveries are then inserted (their ids are `<run id>.<n>`, so inserting them twice is a
no-op) and the mark removed. A master that stopped between the two finds the marked runs at its
next start (`recover_deliveries`) and inserts what is missing. Nothing is lost; the cost, two
more round trips, is paid only by the runs of projects that have notifications.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from podium_model import Page, Run
from podium_model.limits import DELIVERY_ATTEMPTS_KEPT
from podium_model.notifications import (
    DELIVERY_ID_CHARS,
    Delivery,
    DeliveryAttempt,
    DeliveryFilter,
    DeliveryRecord,
    DeliveryStatus,
    deliveries_for,
)
from podium_storage.cursors import decode_cursor, encode_cursor, page_limit
from podium_storage.interface import Notifications
from podium_storage.mongo import convert
from podium_storage.mongo.base import Document, MongoBase, dump, load, ms, now_ms, translate_errors

OUTBOX = "outbox"
"""The mark on a run whose deliveries may not all be stored yet."""

DUPLICATE_KEY = 11000
_NOT_FIELDS = frozenset({"_id", "body", OUTBOX, "claimed_by", "claimed_until"})
"""What a delivery document holds besides the fields of a `Delivery` (the lease: `claim_delivery`)."""


def _document(record: DeliveryRecord) -> Document:
    document: Document = record.model_dump(mode="python", exclude={"id", "attempts"})
    document["_id"] = record.id
    document["status"] = record.status.value
    document["attempts"] = [dump(attempt.model_dump(mode="json")) for attempt in record.attempts]
    for name in ("next_attempt_at", "created_at", "updated_at"):
        document[name] = ms(document[name])
    return document


def _fields(document: Document) -> Document:
    fields = {name: value for name, value in document.items() if name not in _NOT_FIELDS}
    # Each attempt is JSON text, like every free-form value here (`podium_storage.mongo.base`).
    fields["attempts"] = [load(attempt, None) for attempt in document.get("attempts", [])]
    return {**fields, "id": document["_id"]}


async def store_deliveries(db: AsyncDatabase[Document], run: Run, notifications: Notifications) -> None:
    """Insert the deliveries of a run that just ended (again: duplicates are skipped), then unmark it."""
    wanted = notifications.get(run.project, ())
    records = deliveries_for(run, wanted, now_ms()) if wanted else []
    with translate_errors():
        if records:
            try:
                await db.deliveries.insert_many([_document(record) for record in records], ordered=False)
            except BulkWriteError as exc:
                if any(error.get("code") != DUPLICATE_KEY for error in exc.details.get("writeErrors", [])):
                    raise
        await db.runs.update_one({"_id": run.id}, {"$unset": {OUTBOX: ""}})


class DeliveryStore(MongoBase):
    """The delivery methods of `MongoStorage`."""

    async def recover_deliveries(self, notifications: Notifications) -> int:
        """Store the deliveries of the runs still marked (a stop between the two steps); how many runs."""
        with translate_errors():
            marked = [document async for document in self._db.runs.find({OUTBOX: True})]
        for document in marked:
            await store_deliveries(self._db, convert.run(document), notifications)
        return len(marked)

    async def list_pending_deliveries(self, limit: int = 1000) -> list[DeliveryRecord]:
        """Pending deliveries with their bodies, by id."""
        query = {"status": DeliveryStatus.pending.value}
        with translate_errors():
            cursor = self._db.deliveries.find(query).sort("_id", 1).limit(max(1, limit))
            return [DeliveryRecord.model_validate({**_fields(d), "body": d["body"]}) async for d in cursor]

    async def claim_delivery(self, id: str, holder: str, until: datetime) -> bool:
        """Take the sending of a pending, due delivery until `until`; True when `holder` holds it now.

        A document without `claimed_until` (stored before migration 9, or never claimed) is unclaimed.
        """
        now = now_ms()
        query: Document = {
            "_id": id,
            "status": DeliveryStatus.pending.value,
            "$and": [
                {"$or": [{"next_attempt_at": None}, {"next_attempt_at": {"$lte": now}}]},
                {"$or": [{"claimed_until": None}, {"claimed_until": {"$lte": now}}, {"claimed_by": holder}]},
            ],
        }
        with translate_errors():
            result = await self._db.deliveries.update_one(
                query, {"$set": {"claimed_by": holder, "claimed_until": ms(until)}}
            )
        return result.matched_count == 1

    async def record_delivery_attempt(
        self, id: str, attempt: DeliveryAttempt, status: DeliveryStatus, next_attempt_at: datetime | None
    ) -> Delivery | None:
        """Append an attempt (keeping the latest `DELIVERY_ATTEMPTS_KEPT`), set the status; None if unknown."""
        update: Document = {
            "$push": {
                "attempts": {"$each": [dump(attempt.model_dump(mode="json"))], "$slice": -DELIVERY_ATTEMPTS_KEPT}
            },
            "$inc": {"attempt_count": 1},
            "$set": {"status": status.value, "next_attempt_at": ms(next_attempt_at), "updated_at": now_ms()},
            "$unset": {"claimed_by": "", "claimed_until": ""},
        }
        with translate_errors():
            document = await self._db.deliveries.find_one_and_update(
                {"_id": id}, update, projection={"body": 0}, return_document=ReturnDocument.AFTER
            )
        return None if document is None else Delivery.model_validate(_fields(document))

    async def list_deliveries(
        self, project: str, filter: DeliveryFilter | None = None, limit: int = 50, cursor: str | None = None
    ) -> Page[Delivery]:
        """A project's deliveries matching `filter`, newest first (keyset cursor on the id).

        Raises:
            InvalidCursor: `cursor` was not produced by this method.
        """
        limit = page_limit(limit)
        query: Document = {"project": project}
        wanted = filter or DeliveryFilter()
        if wanted.run is not None:
            query["run"] = wanted.run
        if wanted.status is not None:
            query["status"] = wanted.status.value
        if cursor is not None:
            query["_id"] = {"$lt": decode_cursor(cursor, DELIVERY_ID_CHARS)}
        with translate_errors():
            found = self._db.deliveries.find(query, {"body": 0}).sort("_id", -1).limit(limit + 1)
            documents: Sequence[Document] = [document async for document in found]
        items = [Delivery.model_validate(_fields(document)) for document in documents[:limit]]
        next_cursor = encode_cursor(items[-1].id) if len(documents) > limit else None
        return Page[Delivery](items=items, next_cursor=next_cursor)
