"""Runs in SQL: creation, keyset-paginated listings and compare-and-set transitions."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Collection, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Integer, Select, String, Update, bindparam, select, update

from podium_model import Page, Run, RunFilter, RunSource, RunStatus, RunUpdate, utcnow
from podium_model.notifications import deliveries_for
from podium_storage.batches import GroupCommit
from podium_storage.cursors import decode_cursor, encode_cursor, page_limit
from podium_storage.interface import PendingCursor, RunWrite
from podium_storage.newrun import new_run_fields
from podium_storage.retries import follow_up
from podium_storage.sql import convert
from podium_storage.sql.deliveries import insert_deliveries
from podium_storage.sql.session import SqlBase, table
from podium_storage.sql.tables import RunPayloadRow, RunRow

_runs = table(RunRow)
_payloads = table(RunPayloadRow)
_GET_PAYLOAD = select(_payloads.c.payload).where(_payloads.c.run_id == bindparam("run_id"))
_COPY_PAYLOAD = _payloads.insert().from_select(
    ["run_id", "payload"],
    select(bindparam("to", type_=String(36)), _payloads.c.payload).where(_payloads.c.run_id == bindparam("run_id")),
)
"""A webhook run's body given to the run that follows it too (a retry); no row for other runs."""


_FILTERS: dict[str, tuple[str, Callable[[Any, Any], ColumnElement[bool]]]] = {
    "project": ("project", operator.eq),
    "job": ("job", operator.eq),
    "worker": ("worker", operator.eq),
    "source": ("source_type", operator.eq),
    "created_after": ("created_at", operator.ge),
    "created_before": ("created_at", operator.lt),
    "completed_before": ("completed_at", operator.lt),  # a run not completed (NULL) never matches
}
"""The single-valued fields of `RunFilter`: the column each compares, and how."""


def _listing_values(filter: RunFilter, cursor: str | None) -> dict[str, Any]:
    """The values of the filters that are set, and of the cursor, by bind parameter name.

    Raises:
        InvalidCursor: `cursor` was not produced by `list_runs`.
    """
    values = {name: getattr(filter, name) for name in _FILTERS if getattr(filter, name) is not None}
    if filter.status:
        values["status"] = [RunStatus(status).value for status in filter.status]
    if cursor is not None:
        values["before"] = decode_cursor(cursor)
    return values


@functools.lru_cache(maxsize=256)
def _listing(names: frozenset[str]) -> Select[Any]:
    """The listing statement with the bind parameters `names` (see `_listing_values`) and `limit`.

    One statement object per combination of filters, built once: SQLAlchemy keeps the cache
    key on the object, so a listing neither builds its statement nor computes that key again.
    """
    conditions = [
        compare(_runs.c[column], bindparam(name)) for name, (column, compare) in _FILTERS.items() if name in names
    ]
    if "status" in names:
        conditions.append(_runs.c.status.in_(bindparam("status", expanding=True)))
    if "before" in names:
        conditions.append(_runs.c.id < bindparam("before"))
    return select(_runs).where(*conditions).order_by(_runs.c.id.desc()).limit(bindparam("limit", type_=Integer))


# Statements of the hot path, built once: building one (and its cache key) cost more than
# SQLite took to run it.
_GET_RUN = select(_runs).where(_runs.c.id == bindparam("id"))
_PENDING = _runs.c.status == RunStatus.pending.value
_LIST_PENDING = (
    select(_runs).where(_PENDING).order_by(_runs.c.priority.desc(), _runs.c.id).limit(bindparam("limit", type_=Integer))
)
# A later page is read in two ranges of the index (status, priority DESC, id), each a plain
# range scan: the rest of the last run's priority, then the priorities below it. One `OR`
# over both would scan the rows already read at the last priority again on every page.
_LIST_PENDING_SAME = _LIST_PENDING.where(_runs.c.priority == bindparam("priority"), _runs.c.id > bindparam("after"))
_LIST_PENDING_BELOW = _LIST_PENDING.where(_runs.c.priority < bindparam("priority"))
_FINAL = frozenset(status for status in RunStatus if status.is_final)
_INSERT_RUN = _runs.insert()


def _retried(connection: Connection, row: Any) -> Any:
    """`row`, just moved to a final status, with its follow-up attempt inserted when its policy asks.

    In the transaction of the write that ended it: the retry exists exactly when the final
    status does, whatever stops the master afterwards.
    """
    now = utcnow()
    fields = follow_up(convert.run(row), now)
    if fields is None:
        return row
    fields["source_type"] = "retry"
    connection.execute(_COPY_PAYLOAD, {"to": fields["id"], "run_id": row.id})
    connection.execute(_INSERT_RUN, [fields])
    values = {"run_id": row.id, "set_retried_by": fields["id"], "set_updated_at": now}
    return connection.execute(_update(frozenset({"retried_by", "updated_at"}), False), values).first()


def _write_query(write: RunWrite) -> tuple[Update, dict[str, Any]] | None:
    """The `UPDATE ... RETURNING` of one write and its values; None for a compare-and-set expecting nothing."""
    columns = {**_changes(write.changes), "updated_at": utcnow()}
    values: dict[str, Any] = {"run_id": write.run_id}
    if write.to is not None:
        if not write.expected:
            return None
        columns["status"] = RunStatus(write.to).value
        expected = [RunStatus(s).value for s in write.expected]
        # The hot path's compare-and-sets expect one status: `status = :expected` is executed
        # as compiled, where an expanding `IN` is rewritten on every execution.
        values["expected"] = expected[0] if len(expected) == 1 else expected
    values.update({f"set_{name}": value for name, value in columns.items()})
    compare = "expected" in values
    return _update(frozenset(columns), compare, compare and isinstance(values["expected"], str)), values


@functools.lru_cache(maxsize=256)
def _update(columns: frozenset[str], compare: bool, single: bool = False) -> Update:
    """The `UPDATE` of `columns` (bind parameters ``set_<column>``), built once per shape.

    ``run_id`` selects the run; with `compare`, ``expected`` is the compare-and-set's list of
    statuses (with `single`, its one status). A statement built once keeps its cache key: the
    writes of the hot path (a few per run) cost no statement construction.
    """
    conditions = [_runs.c.id == bindparam("run_id")]
    if single:
        conditions.append(_runs.c.status == bindparam("expected"))
    elif compare:
        conditions.append(_runs.c.status.in_(bindparam("expected", expanding=True)))
    changes = {name: bindparam(f"set_{name}", type_=_runs.c[name].type) for name in columns}
    return update(_runs).where(*conditions).values(changes).returning(*_runs.c)


def _changes(changes: RunUpdate | None) -> dict[str, Any]:
    if changes is None:
        return {}
    values = changes.model_dump(exclude_unset=True)
    if "steps" in values:  # a JSON column: its dates as text
        values["steps"] = changes.model_dump(mode="json", include={"steps"})["steps"]
    return values


class RunStore(SqlBase):
    """The run methods of `SqlStorage`."""

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
        values = new_run_fields(
            project, job, parameters, source, run_id, utcnow(), secret_parameters, priority, concurrency_key
        )
        values["source_type"] = source.type
        return await self._creates.submit(values)

    @functools.cached_property
    def _creates(self) -> GroupCommit[dict[str, Any], Run]:
        """Runs created at the same time (a burst of triggers) are inserted in one transaction."""
        return GroupCommit(self._insert_runs)

    async def _insert_runs(self, rows: Sequence[dict[str, Any]]) -> list[Run]:
        await self._writing(lambda connection: connection.execute(_runs.insert(), list(rows)))
        return [convert.run_from_values(values) for values in rows]

    async def get_run(self, run_id: str) -> Run | None:
        """One run by its id."""
        row = await self._reading(lambda connection: connection.execute(_GET_RUN, {"id": run_id}).first())
        return None if row is None else convert.run(row)

    async def list_runs(self, filter: RunFilter, limit: int = 50, cursor: str | None = None) -> Page[Run]:
        """Runs matching `filter`, newest first, one page at a time (keyset cursor on the id).

        Raises:
            InvalidCursor: `cursor` was not produced by this method.
        """
        limit = page_limit(limit)
        values = _listing_values(filter, cursor)
        query = _listing(frozenset(values))
        rows = await self._reading(lambda connection: connection.execute(query, {**values, "limit": limit + 1}).all())
        items = [convert.run(row) for row in rows[:limit]]
        next_cursor = encode_cursor(items[-1].id) if len(rows) > limit else None
        return Page[Run](items=items, next_cursor=next_cursor)

    async def list_pending_runs(self, limit: int = 1000, after: PendingCursor | None = None) -> list[Run]:
        """Pending runs, highest priority first, oldest first within one; after the cursor `after` when given."""
        if after is None:
            rows = await self._reading(lambda connection: connection.execute(_LIST_PENDING, {"limit": limit}).all())
            return [convert.run(row) for row in rows]
        priority, after_id = after

        def read(connection: Connection) -> list[Any]:
            values = {"limit": limit, "priority": priority, "after": after_id}
            rows = list(connection.execute(_LIST_PENDING_SAME, values).all())
            if len(rows) < limit:
                values["limit"] = limit - len(rows)
                rows.extend(connection.execute(_LIST_PENDING_BELOW, values).all())
            return rows

        return [convert.run(row) for row in await self._reading(read)]

    async def list_active_runs(self, worker: str | None = None) -> list[Run]:
        """Running runs (of one worker, or all), oldest first."""
        query = select(_runs).where(_runs.c.status == RunStatus.running.value).order_by(_runs.c.id)
        if worker is not None:
            query = query.where(_runs.c.worker == worker)
        rows = await self._reading(lambda connection: connection.execute(query).all())
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
        return (await self.write_runs([RunWrite(run_id, changes, to, tuple(expected))]))[0]

    async def write_runs(self, writes: Sequence[RunWrite]) -> list[Run | None]:
        """Apply `writes` in order in one transaction (see `Storage.write_runs`)."""

        def work(connection: Connection) -> list[Run | None]:
            runs: list[Run | None] = []
            for write in writes:
                query = _write_query(write)
                row = None if query is None else connection.execute(*query).first()
                # Only a run holding a retry policy pays for the check: its next attempt is
                # inserted here, in the transaction of its final status.
                if row is not None and write.to in _FINAL and row.retry is not None:
                    row = _retried(connection, row)
                run = None if row is None else convert.run(row)
                if run is not None and write.notifications and run.status.is_final:
                    # The outbox: the deliveries commit with the final status, or not at all.
                    wanted = write.notifications.get(run.project, ())
                    insert_deliveries(connection, deliveries_for(run, wanted, utcnow()) if wanted else [])
                runs.append(run)
            return runs

        return await self._writing(work)

    async def update_run(self, run_id: str, changes: RunUpdate) -> Run | None:
        """Write the fields set in `changes` (never the status); None if unknown."""
        return (await self.write_runs([RunWrite(run_id, changes)]))[0]

    async def put_run_payload(self, run_id: str, payload: str) -> None:
        """Store the request body of a webhook run.

        Raises:
            AlreadyExists: the run holds a payload already.
        """
        values = {"run_id": run_id, "payload": payload}
        await self._writing(lambda connection: connection.execute(_payloads.insert(), values))

    async def get_run_payload(self, run_id: str) -> str | None:
        """The request body of a webhook run; None for any other run."""
        found = await self._reading(lambda connection: connection.execute(_GET_PAYLOAD, {"run_id": run_id}).first())
        return None if found is None else str(found[0])
