"""The audit log in SQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select

from podium_model import Page
from podium_model.audit import AuditEntry, AuditFilter
from podium_storage.cursors import decode_cursor, encode_cursor, page_limit
from podium_storage.sql.session import SqlBase, table
from podium_storage.sql.tables import AuditRow

_audit = table(AuditRow)


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(id=row.id, at=row.at, actor=row.actor, action=row.action, target=row.target, details=row.details)


class AuditStore(SqlBase):
    """The audit methods of `SqlStorage`."""

    async def import_audit(self, entry: AuditEntry) -> None:
        """Store an audit entry as it is."""
        values = entry.model_dump()
        await self._writing(lambda connection: connection.execute(insert(_audit).values(**values)))

    async def list_audit(
        self, filter: AuditFilter | None = None, limit: int = 50, cursor: str | None = None
    ) -> Page[AuditEntry]:
        """Audit entries matching `filter`, newest first, one page at a time (keyset cursor on the id).

        Raises:
            InvalidCursor: `cursor` was not produced by this method.
        """
        limit = page_limit(limit)
        query = select(_audit).order_by(_audit.c.id.desc()).limit(limit + 1)
        for name, value in (filter or AuditFilter()).model_dump(exclude_none=True).items():
            query = query.where(_audit.c[name] == value)
        if cursor is not None:
            query = query.where(_audit.c.id < decode_cursor(cursor))
        rows = await self._reading(lambda connection: connection.execute(query).all())
        items = [_entry(row) for row in rows[:limit]]
        return Page[AuditEntry](items=items, next_cursor=encode_cursor(items[-1].id) if len(rows) > limit else None)
