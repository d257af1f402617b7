"""Deliveries of webhooks out in SQL: the outbox rows `write_runs` inserts, and the sender's updates."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Integer, bindparam, or_, select, update

from podium_model import Page, utcnow
from podium_model.limits import DELIVERY_ATTEMPTS_KEPT
from podium_model.notifications import (
    DELIVERY_ID_CHARS,
    Delivery,
    DeliveryAttempt,
    DeliveryFilter,
    DeliveryRecord,
    DeliveryStatus,
)
from podium_storage.cursors import decode_cursor, encode_cursor, page_limit
from podium_storage.sql.session import SqlBase, table
from podium_storage.sql.tables import DeliveryRow

_deliveries = table(DeliveryRow)
_PENDING = (
    select(_deliveries)
    .where(_deliveries.c.status == DeliveryStatus.pending.value)
    .order_by(_deliveries.c.id)
    .limit(bindparam("limit", type_=Integer))
)
_CLAIM_COLUMNS = frozenset({"body", "claimed_by", "claimed_until"})
_LISTED = [column for column in _deliveries.c if column.name not in _CLAIM_COLUMNS]
_CLAIM = (
    update(_deliveries)
    .where(
        _deliveries.c.id == bindparam("claimed_id"),
        _deliveries.c.status == DeliveryStatus.pending.value,
        or_(_deliveries.c.next_attempt_at.is_(None), _deliveries.c.next_attempt_at <= bindparam("now")),
        or_(
            _deliveries.c.claimed_until.is_(None),
            _deliveries.c.claimed_until <= bindparam("now"),
            _deliveries.c.claimed_by == bindparam("holder"),
        ),
    )
    .values(claimed_by=bindparam("holder"), claimed_until=bindparam("until"))
)
"""The lease of one delivery's sending: a compare-and-set on its status, due time and lease."""


def delivery_rows(records: Sequence[DeliveryRecord]) -> list[dict[str, Any]]:
    """The rows of new deliveries, for an insert in the run's transaction."""
    rows = []
    for record in records:
        values = record.model_dump(mode="python", exclude={"run", "attempts"})
        values["run_id"] = record.run
        values["status"] = record.status.value
        values["attempts"] = [attempt.model_dump(mode="json") for attempt in record.attempts]
        values["claimed_by"] = values["claimed_until"] = None
        rows.append(values)
    return rows


def insert_deliveries(connection: Connection, records: Sequence[DeliveryRecord]) -> None:
    """Insert new deliveries on `connection` (inside the transaction of the run's final status)."""
    if records:
        connection.execute(_deliveries.insert(), delivery_rows(records))


def _fields(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "project": row.project,
        "run": row.run_id,
        "job": row.job,
        "event": row.event,
        "url": row.url,
        "secret": row.secret,
        "status": row.status,
        "attempts": row.attempts,
        "attempt_count": row.attempt_count,
        "next_attempt_at": row.next_attempt_at,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


class DeliveryStore(SqlBase):
    """The delivery methods of `SqlStorage`."""

    async def list_pending_deliveries(self, limit: int = 1000) -> list[DeliveryRecord]:
        """Pending deliveries with their bodies, by id."""
        rows = await self._reading(lambda connection: connection.execute(_PENDING, {"limit": limit}).all())
        return [DeliveryRecord.model_validate({**_fields(row), "body": row.body}) for row in rows]

    async def claim_delivery(self, id: str, holder: str, until: datetime) -> bool:
        """Take the sending of a pending, due delivery until `until`; True when `holder` holds it now."""
        values = {"claimed_id": id, "holder": holder, "until": until, "now": utcnow()}
        return await self._writing(lambda connection: connection.execute(_CLAIM, values).rowcount == 1)

    async def record_delivery_attempt(
        self, id: str, attempt: DeliveryAttempt, status: DeliveryStatus, next_attempt_at: datetime | None
    ) -> Delivery | None:
        """Append an attempt (keeping the latest `DELIVERY_ATTEMPTS_KEPT`), set the status; None if unknown."""

        def work(connection: Connection) -> Any:
            found = connection.execute(
                select(_deliveries.c.attempts, _deliveries.c.attempt_count).where(_deliveries.c.id == id)
            ).first()
            if found is None:
                return None
            attempts = [*found.attempts, attempt.model_dump(mode="json")][-DELIVERY_ATTEMPTS_KEPT:]
            values = {
                "attempts": attempts,
                "attempt_count": found.attempt_count + 1,
                "status": status.value,
                "next_attempt_at": next_attempt_at,
                "updated_at": utcnow(),
                "claimed_by": None,
                "claimed_until": None,
            }
            statement = update(_deliveries).where(_deliveries.c.id == id).values(values).returning(*_LISTED)
            return connection.execute(statement).first()

        row = await self._writing(work)
        return None if row is None else Delivery.model_validate(_fields(row))

    async def list_deliveries(
        self, project: str, filter: DeliveryFilter | None = None, limit: int = 50, cursor: str | None = None
    ) -> Page[Delivery]:
        """A project's deliveries matching `filter`, newest first (keyset cursor on the id).

        Raises:
            InvalidCursor: `cursor` was not produced by this method.
        """
        limit = page_limit(limit)
        query = select(*_LISTED).where(_deliveries.c.project == project)
        wanted = filter or DeliveryFilter()
        if wanted.run is not None:
            query = query.where(_deliveries.c.run_id == wanted.run)
        if wanted.status is not None:
            query = query.where(_deliveries.c.status == wanted.status.value)
        if cursor is not None:
            query = query.where(_deliveries.c.id < decode_cursor(cursor, DELIVERY_ID_CHARS))
        query = query.order_by(_deliveries.c.id.desc()).limit(limit + 1)
        rows = await self._reading(lambda connection: connection.execute(query).all())
        items = [Delivery.model_validate(_fields(row)) for row in rows[:limit]]
        return Page[Delivery](items=items, next_cursor=encode_cursor(items[-1].id) if len(rows) > limit else None)
