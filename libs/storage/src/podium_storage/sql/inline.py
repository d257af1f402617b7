"""aiosqlite's interface with every call made on the event loop's own thread.

aiosqlite hands each call (cursor, execute, fetch, commit...) to a thread of its own and back:
several hand-offs per transaction, each costing more CPU and latency than the SQLite work it
carries, which takes microseconds on a local file. Podium's writers queue before they begin
(`writeturn`), and WAL readers never wait for writers, so a statement does not block on the
database; running it inline is then both faster and simpler. The one case that can still wait
is a process that is not Podium holding the write lock, for at most the busy timeout.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Generator
from typing import Any

import aiosqlite


class _RunAtOnce:
    """Stands for aiosqlite's queue to its thread: what is put in runs at once.

    SQLAlchemy's adapter puts some calls (setting the isolation level) in that queue itself.
    """

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:
            if future is not None and not future.done():
                future.set_exception(exc)
            return
        if future is not None and not future.done():
            future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """An `aiosqlite.Connection` without its thread: `await`ing a call runs it at once."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _RunAtOnce()  # type: ignore[assignment]

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._connection is None:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    async def _connect(self) -> InlineConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    def __await__(self) -> Generator[Any, None, InlineConnection]:
        return self._connect().__await__()

    def stop(self) -> None:
        """Close the SQLite connection (there is no thread to stop)."""
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def close(self) -> None:
        """Close the SQLite connection."""
        self.stop()


def inline_creator(database: str, timeout: float) -> Callable[[], InlineConnection]:
    """An `async_creator` for SQLAlchemy's aiosqlite dialect, opening `database` inline."""

    def create() -> InlineConnection:
        # check_same_thread off: a connection garbage-collected in another thread may close it.
        return InlineConnection(lambda: sqlite3.connect(database, timeout=timeout, check_same_thread=False))

    return create
