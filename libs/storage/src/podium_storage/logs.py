"""The log store: each run's log, addressed by (project, run, byte offset).

Two implementations keep the same contract (`LogStore`):

- `DirectoryLogStore` (`--log-store directory`, the default): one file per run,
  `<root>/<project>/<run>.log`. The master and the api must share the directory.
- The database store (`--log-store database`, `Storage.database_logs`): the log as chunks in
  the database itself (`sql.logs`, `mongo.logs`), so masters and api on different hosts
  serve the same logs with nothing shared but the database.

Only the master writes; it appends a chunk only at the offset the store already holds (a
compare-and-set: of two writers racing at one offset, exactly one wins), so a replayed or
out-of-order chunk can never write a byte twice. Artifacts (`podium_storage.artifacts`) stay
files under `root` with either store: the master writing them and the api reading them still
share that directory.
"""

from __future__ import annotations

import abc
import asyncio
import errno
import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from podium_storage.interface import Storage

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

LogStoreKind = Literal["directory", "database"]
"""The values of `--log-store`."""

INLINE_BYTES = 65536
"""Appends and reads up to this size run on the event loop: a thread hop costs more than the file call."""


SQLITE_DATABASE_LOGS = (
    "--log-store database needs PostgreSQL or MongoDB: a SQLite database serves one host, "
    "where the directory store (--log-store directory) does the same without growing the database"
)


def check_log_store(kind: LogStoreKind, database_url: str) -> None:
    """Refuse a log store the database cannot hold (the database store on SQLite).

    Raises:
        ValueError: the combination is impossible; the message says what to use.
    """
    if kind != "database":
        return
    from podium_storage.urls import is_mongo, is_sqlite, sql_url

    if not is_mongo(database_url) and is_sqlite(sql_url(database_url)):
        raise ValueError(SQLITE_DATABASE_LOGS)


def open_log_store(kind: LogStoreKind, directory: Path | None, storage: Storage) -> LogStore:
    """The log store `--log-store` names: files under `directory`, or chunks in `storage`'s
    database (artifacts under `directory` either way, when there is one).

    Raises:
        ValueError: the database store on SQLite (`check_log_store`).
    """
    if kind == "directory":
        if directory is None:
            raise ValueError("the directory log store needs a directory")
        return DirectoryLogStore(directory)
    return storage.database_logs(directory)


class LogOffsetMismatch(Exception):
    """A chunk did not start where the stored log ends; `size` is what the store holds."""

    def __init__(self, size: int) -> None:
        super().__init__(f"log holds {size} bytes")
        self.size = size


class LogStoreFull(Exception):
    """The log store's disk (or quota) is full: the chunk was not stored, nothing of it was kept."""


_FULL = (errno.ENOSPC, errno.EDQUOT)


def check_ids(project: str, run_id: str) -> None:
    """Refuse ids that could not name a file (every store refuses the same ones).

    Raises:
        ValueError: project or run id could escape the directory.
    """
    if not _SAFE.match(project) or not _SAFE.match(run_id):
        raise ValueError("invalid project or run id")


class LogStore(abc.ABC):
    """The run logs: append at the held size, read a range, size, delete.

    `root` is the directory of the artifacts (and, for `DirectoryLogStore`, of the logs); a
    database store without one (an admin command given no `--logs`) leaves artifacts alone.
    """

    kind: LogStoreKind

    def __init__(self, root: Path | str | None) -> None:
        self.root = None if root is None else Path(root)

    @abc.abstractmethod
    async def size(self, project: str, run_id: str) -> int:
        """How many bytes the store holds of the run's log (0 when none)."""

    @abc.abstractmethod
    async def append(self, project: str, run_id: str, offset: int, data: bytes) -> int:
        """Append `data` if it starts exactly where the log ends; return the new size.

        Raises:
            LogOffsetMismatch: `offset` is not the current size (a gap, an overlap, or another
                writer won the race for this offset).
            LogStoreFull: no room; the log is as it was (a chunk is stored whole or not at all).
            StorageError: the database store could not store it (`StorageUnavailable`: try again).
        """

    @abc.abstractmethod
    async def read(self, project: str, run_id: str, offset: int = 0, limit: int | None = None) -> bytes:
        """Bytes of the log from `offset`, at most `limit` of them (b"" past the end)."""

    @abc.abstractmethod
    async def _delete_log(self, project: str, run_id: str) -> bool:
        """Remove the run's log; True when there was one."""

    async def delete(self, project: str, run_id: str) -> bool:
        """Remove a run's log and its artifacts, if any; True when there was a log.

        No append of the run may run meanwhile (the master deletes a log only when no session
        holds the run): an append racing with it could leave its chunk behind.
        """
        found = await self._delete_log(project, run_id)
        if self.root is None:
            return found
        try:
            shutil.rmtree(self.artifacts(project, run_id))
        except FileNotFoundError:
            pass  # the usual case, one failed lstat on the claim path
        return found

    def artifacts(self, project: str, run_id: str) -> Path:
        """The directory of one run's artifacts (`podium_storage.artifacts`), a file tree with either store.

        Raises:
            ValueError: project or run id could escape the directory, or the store has no directory.
        """
        check_ids(project, run_id)
        if self.root is None:
            raise ValueError("this log store has no artifact directory")
        return self.root / project / f"{run_id}.artifacts"


class DirectoryLogStore(LogStore):
    """Run logs as files under `root/<project>/<run>.log`.

    Small appends and reads run on the event loop (a thread hop costs more than writing a few
    bytes); larger ones on a thread, so a big chunk never stalls the loop.
    """

    kind: LogStoreKind = "directory"

    def __init__(self, root: Path | str) -> None:
        super().__init__(root)
        self.directory = Path(root)

    def path(self, project: str, run_id: str) -> Path:
        """The file of one run's log.

        Raises:
            ValueError: project or run id could escape the directory.
        """
        check_ids(project, run_id)
        return self.directory / project / f"{run_id}.log"

    async def size(self, project: str, run_id: str) -> int:
        """How many bytes the file holds (0 when none): one stat, on the loop."""
        try:
            return self.path(project, run_id).stat().st_size
        except FileNotFoundError:
            return 0

    async def append(self, project: str, run_id: str, offset: int, data: bytes) -> int:
        """Append `data` at `offset` (`append_at`); see `LogStore.append`."""
        path = self.path(project, run_id)
        if len(data) <= INLINE_BYTES:
            return append_at(path, offset, data)
        return await asyncio.to_thread(append_at, path, offset, data)

    async def read(self, project: str, run_id: str, offset: int = 0, limit: int | None = None) -> bytes:
        """Bytes of the file from `offset`, at most `limit` of them (b"" past the end)."""
        path = self.path(project, run_id)
        if limit is not None and limit <= INLINE_BYTES:
            return _read(path, offset, limit)
        return await asyncio.to_thread(_read, path, offset, limit)

    async def _delete_log(self, project: str, run_id: str) -> bool:
        try:
            self.path(project, run_id).unlink()
        except FileNotFoundError:
            return False
        return True


def _read(path: Path, offset: int, limit: int | None) -> bytes:
    try:
        with path.open("rb") as file:
            file.seek(offset)
            return file.read(-1 if limit is None else limit)
    except FileNotFoundError:
        return b""


def append_at(path: Path, offset: int, data: bytes) -> int:
    """Append `data` to the file at `path` if it starts exactly where the file ends; return the new size.

    Raises:
        LogOffsetMismatch: `offset` is not the current size (a gap or an overlap).
        LogStoreFull: the disk is full; the file is as it was (a chunk is stored whole or not at all).
    """
    try:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        if exc.errno in _FULL:
            raise LogStoreFull(exc.strerror or str(exc)) from exc
        raise
    size = -1
    try:
        size = os.fstat(fd).st_size
        if offset != size:
            raise LogOffsetMismatch(size)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        return size + len(data)
    except OSError as exc:
        if exc.errno not in _FULL:
            raise
        if size >= 0:
            os.ftruncate(fd, size)  # drop the part written: shrinking needs no space
        raise LogStoreFull(exc.strerror or str(exc)) from exc
    finally:
        os.close(fd)
