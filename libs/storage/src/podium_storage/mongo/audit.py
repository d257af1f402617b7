"""The audit log in MongoDB: collection `audit`, `_id` the entry's UUIDv7, details as JSON text."""

from __future__ import annotations

from podium_model import Page
from podium_model.audit import AuditEntry, AuditFilter
from podium_storage.cursors import decode_cursor, encode_cursor, page_limit
from podium_storage.mongo.base import Document, MongoBase, dump, load, ms, translate_errors


def _entry(document: Document) -> AuditEntry:
    return AuditEntry(
        id=document["_id"],
        at=document["at"],
        actor=document["actor"],
        action=document["action"],
        target=document["target"],
        details=load(document.get("details"), {}),
    )


class AuditStore(MongoBase):
    """The audit methods of `MongoStorage`."""

    async def import_audit(self, entry: AuditEntry) -> None:
        """Store an audit entry as it is."""
        document: Document = {
            "_id": entry.id,
            "at": ms(entry.at),
            "actor": entry.actor,
            "action": entry.action,
            "target": entry.target,
            "details": dump(entry.details),
        }
        with translate_errors():
            await self._db.audit.insert_one(document)

    async def list_audit(
        self, filter: AuditFilter | None = None, limit: int = 50, cursor: str | None = None
    ) -> Page[AuditEntry]:
        """Audit entries matching `filter`, newest first, one page at a time (keyset cursor on the id).

        Raises:
            InvalidCursor: `cursor` was not produced by this method.
        """
        limit = page_limit(limit)
        query: Document = (filter or AuditFilter()).model_dump(exclude_none=True)
        if cursor is not None:
            query["_id"] = {"$lt": decode_cursor(cursor)}
        with translate_errors():
            documents = [d async for d in self._db.audit.find(query).sort("_id", -1).limit(limit + 1)]
        items = [_entry(document) for document in documents[:limit]]
        next_cursor = encode_cursor(items[-1].id) if len(documents) > limit else None
        return Page[AuditEntry](items=items, next_cursor=next_cursor)
