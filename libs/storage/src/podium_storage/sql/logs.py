"""The database log store on SQL: a run's log as contiguous chunks in `log_chunks` (migration 0014).

Each append is one row, the chunk the worker sent (what the output held, up to its
`--chunk-size`, 1 MiB by default: never a row per line of a fast log). An append is a single
`INSERT ... SELECT ... WHERE <last end> = :start ON CONFLICT DO NOTHING`: it inserts only if
the log ends exactly at `start`, and the primary key (project, run_id, start) lets exactly one
of two writers racing at that offset in. On PostgreSQL the loser waits for the winner's
commit and then inserts nothing. The size is the last chunk's end, one backward step of the
primary key. `SqlStorage.database_logs` offers it on PostgreSQL only (SQLite keeps files).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import BigInteger, ColumnElement, Connection, LargeBinary, String, bindparam, delete, func, select, text

from podium_storage.logs import LogOffsetMismatch, LogStore, LogStoreKind, check_ids
from podium_storage.sql.session import SqlBase, table
from podium_storage.sql.tables import LogChunkRow

_CHUNKS = table(LogChunkRow)
_C = _CHUNKS.c

_APPEND = text(
    "INSERT INTO log_chunks (project, run_id, start, data)"
    " SELECT :project, :run_id, :start, :data"
    " WHERE COALESCE((SELECT c.start + length(c.data) FROM log_chunks c"
    " WHERE c.project = :project AND c.run_id = :run_id ORDER BY c.start DESC LIMIT 1), 0) = :start"
    " ON CONFLICT DO NOTHING"
).bindparams(
    bindparam("project", type_=String),
    bindparam("run_id", type_=String),
    bindparam("start", type_=BigInteger),
    bindparam("data", type_=LargeBinary),
)


def _of(project: str, run_id: str) -> list[ColumnElement[bool]]:
    return [_C.project == project, _C.run_id == run_id]


def _size(connection: Connection, project: str, run_id: str) -> int:
    last = select(_C.start + func.length(_C.data)).where(*_of(project, run_id)).order_by(_C.start.desc()).limit(1)
    return int(connection.execute(last).scalar() or 0)


class SqlLogStore(LogStore):
    """Run logs in the storage's SQL database (SQLite or PostgreSQL); artifacts under `root`."""

    kind: LogStoreKind = "database"

    def __init__(self, database: SqlBase, root: Path | str | None) -> None:
        super().__init__(root)
        self._database = database

    async def size(self, project: str, run_id: str) -> int:
        """The end of the run's last chunk (0 when none)."""
        check_ids(project, run_id)
        return await self._database._reading(lambda connection: _size(connection, project, run_id))

    async def append(self, project: str, run_id: str, offset: int, data: bytes) -> int:
        """Insert `data` as the chunk at `offset` if the log ends there; see `LogStore.append`."""
        check_ids(project, run_id)
        if not data:  # no row: an empty chunk would take the offset of the next real one
            held = await self.size(project, run_id)
            if held != offset:
                raise LogOffsetMismatch(held)
            return held
        values = {"project": project, "run_id": run_id, "start": offset, "data": data}

        def work(connection: Connection) -> int:
            """-1 once inserted, else the size held (read in the same transaction)."""
            if connection.execute(_APPEND, values).rowcount == 1:
                return -1
            return _size(connection, project, run_id)

        held = await self._database._writing(work)
        if held >= 0:
            raise LogOffsetMismatch(held)
        return offset + len(data)

    async def read(self, project: str, run_id: str, offset: int = 0, limit: int | None = None) -> bytes:
        """The chunks overlapping [offset, offset + limit), cut to that range, in one statement."""
        check_ids(project, run_id)
        if limit is not None and limit <= 0:
            return b""
        first = (
            select(func.coalesce(func.max(_C.start), 0))
            .where(*_of(project, run_id), _C.start <= offset)
            .scalar_subquery()
        )
        query = select(_C.start, _C.data).where(*_of(project, run_id), _C.start >= first).order_by(_C.start)
        if limit is not None:
            query = query.where(_C.start < offset + limit)
        rows = await self._database._reading(lambda connection: connection.execute(query).all())
        if not rows:
            return b""
        skip = offset - int(rows[0].start)
        if skip < 0 or skip >= sum(len(row.data) for row in rows):
            return b""  # past the end (or before a chunk a delete raced with: `LogStore.delete`)
        joined = b"".join(bytes(row.data) for row in rows)
        return joined[skip : None if limit is None else skip + limit]

    async def _delete_log(self, project: str, run_id: str) -> bool:
        check_ids(project, run_id)
        return await self._database._deleted(delete(_CHUNKS).where(*_of(project, run_id)))
