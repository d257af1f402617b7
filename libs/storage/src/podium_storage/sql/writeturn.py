"""Turns for SQLite writers, within a process and across the processes sharing a file.

SQLite lets one writer in at a time and makes the others wait in its busy handler, which
sleeps and retries (1 ms, then 2, 5, 10 ... up to 100 ms per try). Under a burst, with the
api and the master both writing, those sleeps, not the writes, set the pace. Podium's writers
therefore queue before `BEGIN IMMEDIATE`: on an asyncio lock within the process, then on an
advisory `flock` of a file next to the database, which the kernel hands over the moment it is
released. SQLite's own locking still guarantees correctness; the turn only removes the sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
from pathlib import Path


class WriteTurn:
    """One writer at a time among the holders of the same lock file."""

    def __init__(self, database: Path | None) -> None:
        self._lock = asyncio.Lock()
        self._path: Path | None = None
        if database is not None and database.name not in ("", ":memory:"):
            self._path = database.with_name(database.name + ".writer-lock")
        self._fd: int | None = None

    def _file(self) -> int | None:
        if self._fd is None and self._path is not None:
            try:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                self._path = None  # a read-only directory: SQLite's busy handler alone then
        return self._fd

    @contextlib.asynccontextmanager
    async def taken(self) -> AsyncIterator[None]:
        """Hold the turn for the block."""
        async with self._lock:
            fd = self._file()
            if fd is None:
                yield
                return
            await _flock(fd)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the lock file (the turn then works within the process only)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._path = None


async def _flock(fd: int) -> None:
    """Take an exclusive flock on `fd`; wait in a thread only when another process holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    waiting = asyncio.get_running_loop().run_in_executor(None, fcntl.flock, fd, fcntl.LOCK_EX)
    try:
        await asyncio.shield(waiting)
    except asyncio.CancelledError:
        # The thread still waits and will get the lock: hand it back as soon as it does.
        def hand_back(done: asyncio.Future[None]) -> None:
            if not done.cancelled() and done.exception() is None:
                fcntl.flock(fd, fcntl.LOCK_UN)

        waiting.add_done_callback(hand_back)
        raise
