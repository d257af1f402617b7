"""Runs in SQL: creation, keyset-paginated listings and compare-and-set transitions."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, select, update

from podium_model import Page, Run, RunFilter, RunSource, RunStatus, RunUpdate, new_id, utcnow
from podium_storage.cursors import decode_cursor, encode_cursor, page_limit
from podium_storage.sql import convert
from podium_storage.sql.session import SqlBase, table
from podium_storage.sql.tables import RunRow

_runs = table(RunRow)


def _conditions(filter: RunFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filter.project is not None:
        conditions.append(_runs.c.project == filter.project)
    if filter.job is not None:
        conditions.append(_runs.c.job == filter.job)
    if filter.status:
        conditions.append(_runs.c.status.in_([status.value for status in filter.status]))
    if filter.worker is not None:
        conditions.append(_runs.c.worker == filter.worker)
    if filter.source is not None:
        conditions.append(_runs.c.source_type == filter.source)
    if filter.created_after is not None:
        conditions.append(_runs.c.created_at >= filter.created_after)
    if filter.created_before is not None:
        conditions.append(_runs.c.created_at < filter.created_before)
    if filter.completed_before is not None:
        conditions.append(_runs.c.completed_at < filter.completed_before)
    return conditions


def _changes(changes: RunUpdate | None) -> dict[str, Any]:
    return {} if changes is None else changes.model_dump(exclude_unset=True)


class RunStore(SqlBase):
    """The run methods of `SqlStorage`."""

    async def create_run(
        self, project: str, job: str, parameters: dict[str, str], source: RunSource, run_id: str | None = None
    ) -> Run:
        """Store a new pending run (id: a new UUIDv7 unless given).

        Raises:
            AlreadyExists: `run_id` is taken.
        """
        now = utcnow()
        values: dict[str, Any] = {
            "id": run_id or new_id(),
            "project": project,
            "job": job,
            "parameters": dict(parameters),
            "source": source.model_dump(mode="json", exclude_none=True),
            "source_type": source.type,
            "worker": None,
            "status": RunStatus.pending.value,
            "reason": None,
            "waiting_reason": None,
            "results": {},
            "should_cancel": False,
            "should_abort": False,
            "created_at": now,
            "assigned_at": None,
            "started_at": None,
            "completed_at": None,
            "updated_at": now,
        }
        async with self._session() as session:
            await session.execute(_runs.insert().values(**values))
        return convert.run_from_values(values)

    async def get_run(self, run_id: str) -> Run | None:
        """One run by its id."""
        async with self._session(write=False) as session:
            row = (await session.execute(select(_runs).where(_runs.c.id == run_id))).first()
        return None if row is None else convert.run(row)

    async def list_runs(self, filter: RunFilter, limit: int = 50, cursor: str | None = None) -> Page[Run]:
        """Runs matching `filter`, newest first, one page at a time (keyset cursor on the id).

        Raises:
            InvalidCursor: `cursor` was not produced by this method.
        """
        limit = page_limit(limit)
        conditions = _conditions(filter)
        if cursor is not None:
            conditions.append(_runs.c.id < decode_cursor(cursor))
        query = select(_runs).where(*conditions).order_by(_runs.c.id.desc()).limit(limit + 1)
        async with self._session(write=False) as session:
            rows = (await session.execute(query)).all()
        items = [convert.run(row) for row in rows[:limit]]
        next_cursor = encode_cursor(items[-1].id) if len(rows) > limit else None
        return Page[Run](items=items, next_cursor=next_cursor)

    async def list_pending_runs(self, limit: int = 1000) -> list[Run]:
        """Pending runs, oldest first."""
        query = select(_runs).where(_runs.c.status == RunStatus.pending.value).order_by(_runs.c.id).limit(limit)
        async with self._session(write=False) as session:
            rows = (await session.execute(query)).all()
        return [convert.run(row) for row in rows]

    async def list_active_runs(self, worker: str | None = None) -> list[Run]:
        """Running runs (of one worker, or all), oldest first."""
        query = select(_runs).where(_runs.c.status == RunStatus.running.value).order_by(_runs.c.id)
        if worker is not None:
            query = query.where(_runs.c.worker == worker)
        async with self._session(write=False) as session:
            rows = (await session.execute(query)).all()
        return [convert.run(row) for row in rows]

    async def transition_run(
        self, run_id: str, expected: Collection[RunStatus], to: RunStatus, changes: RunUpdate | None = None
    ) -> Run | None:
        """Compare-and-set: move a run to `to` only if its status is in `expected`.

        One `UPDATE ... WHERE id = :id AND status IN (...) RETURNING`: the database decides,
        so two callers, or a replayed message, can never move a run twice. None when the run
        is unknown or in another status.
        """
        if not expected:
            return None
        values = {**_changes(changes), "status": RunStatus(to).value, "updated_at": utcnow()}
        query = (
            update(_runs)
            .where(_runs.c.id == run_id, _runs.c.status.in_([RunStatus(s).value for s in expected]))
            .values(**values)
            .returning(*_runs.c)
        )
        async with self._session() as session:
            row = (await session.execute(query)).first()
        return None if row is None else convert.run(row)

    async def update_run(self, run_id: str, changes: RunUpdate) -> Run | None:
        """Write the fields set in `changes` (never the status); None if unknown."""
        values = {**_changes(changes), "updated_at": utcnow()}
        query = update(_runs).where(_runs.c.id == run_id).values(**values).returning(*_runs.c)
        async with self._session() as session:
            row = (await session.execute(query)).first()
        return None if row is None else convert.run(row)
