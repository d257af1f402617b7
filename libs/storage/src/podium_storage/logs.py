"""The log store: each run's log is one file, addressed by (project, run, byte offset).

Master and api share the directory. Only the master writes; it appends a chunk only at the
offset it already holds, so a replayed or out-of-order chunk can never write a byte twice.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from pathlib import Path

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class LogOffsetMismatch(Exception):
    """A chunk did not start where the stored log ends; `size` is what the store holds."""

    def __init__(self, size: int) -> None:
        super().__init__(f"log holds {size} bytes")
        self.size = size


class LogStoreFull(Exception):
    """The log store's disk (or quota) is full: the chunk was not stored, nothing of it was kept."""


_FULL = (errno.ENOSPC, errno.EDQUOT)


class LogStore:
    """Run logs as files under `root/<project>/<run>.log`."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path(self, project: str, run_id: str) -> Path:
        """The file of one run's log.

        Raises:
            ValueError: project or run id could escape the directory.
        """
        if not _SAFE.match(project) or not _SAFE.match(run_id):
            raise ValueError("invalid project or run id")
        return self.root / project / f"{run_id}.log"

    def size(self, project: str, run_id: str) -> int:
        """How many bytes the store holds of the run's log (0 when none)."""
        try:
            return self.path(project, run_id).stat().st_size
        except FileNotFoundError:
            return 0

    def append(self, project: str, run_id: str, offset: int, data: bytes) -> int:
        """Append `data` if it starts exactly where the log ends; return the new size.

        Raises:
            LogOffsetMismatch: `offset` is not the current size (a gap or an overlap).
            LogStoreFull: the disk is full; the log is as it was (a chunk is stored whole or not at all).
        """
        return append_at(self.path(project, run_id), offset, data)

    def read(self, project: str, run_id: str, offset: int = 0, limit: int | None = None) -> bytes:
        """Bytes of the log from `offset`, at most `limit` of them (b"" past the end)."""
        try:
            with self.path(project, run_id).open("rb") as file:
                file.seek(offset)
                return file.read(-1 if limit is None else limit)
        except FileNotFoundError:
            return b""

    def artifacts(self, project: str, run_id: str) -> Path:
        """The directory of one run's artifacts, beside its log (`podium_storage.artifacts`)."""
        return self.path(project, run_id).with_suffix(".artifacts")

    def delete(self, project: str, run_id: str) -> bool:
        """Remove a run's log and its artifacts, if any; True when there was a log."""
        try:
            self.path(project, run_id).unlink()
        except FileNotFoundError:
            found = False
        else:
            found = True
        try:
            shutil.rmtree(self.artifacts(project, run_id))
        except FileNotFoundError:
            pass  # the usual case, one failed lstat on the claim path
        return found


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
