"""Group commit: writes that arrive together share one transaction.

Under a burst, many coroutines write at once: the api creating runs, the master claiming them
and recording what workers report. Alone, each write costs a transaction, a commit and, on
SQLite, a turn at the single writer. `GroupCommit` hands everything submitted while one batch
is being written to the next call of `apply`, so a burst costs a few transactions. A caller
gets the same answer, or the same exception, as from a call of its own, and items are applied
in the order they were submitted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from podium_storage.interface import StorageError, StorageUnavailable

logger = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")

MAX_BATCH = 200
"""Items per call of `apply` at most."""


class GroupCommit(Generic[Item, Result]):
    """Calls `apply(items)` (one transaction, one result per item) with whatever queued meanwhile."""

    def __init__(self, apply: Callable[[Sequence[Item]], Awaitable[Sequence[Result]]]) -> None:
        self._apply = apply
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        """Apply `item` with the others queued now; its result.

        Raises:
            StorageError: as `apply` raises it for this item.
        """
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="group commit")
        return await future

    async def _drain(self) -> None:
        while self._queue:
            batch = self._queue[:MAX_BATCH]
            del self._queue[:MAX_BATCH]
            try:
                await self._write(batch)
            except asyncio.CancelledError:  # the writer itself is cancelled (the loop is closing)
                for _, future in batch + self._queue:
                    future.cancel()
                self._queue.clear()
                raise
            except Exception as exc:
                # Not a storage error (a driver error nobody classified, a bug): each caller gets
                # it, never a cancellation it would take for its own (a final status waiting on it
                # was dropped silently so), and the writes queued behind it are still applied.
                logger.error("a batch of %d writes failed", len(batch), exc_info=exc)
                for _, future in batch:
                    _fail(future, exc)

    async def _write(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._apply([item for item, _ in batch])
        except StorageError as exc:
            if len(batch) == 1 or isinstance(exc, StorageUnavailable):
                for _, future in batch:
                    _fail(future, exc)
                return
            # One refused item (a duplicate id...) must not fail the others: apply them one by one.
            logger.info("a batch of %d writes was refused (%s): applying them one by one", len(batch), exc)
            for item, future in batch:
                try:
                    (result,) = await self._apply([item])
                except StorageError as alone:
                    _fail(future, alone)
                else:
                    _answer(future, result)
            return
        for (_, future), result in zip(batch, results, strict=True):
            _answer(future, result)


def _answer(future: asyncio.Future[Result], result: Result) -> None:
    """Answer a waiting caller, unless it gave up (cancelled) meanwhile."""
    if not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future[Result], error: BaseException) -> None:
    """Raise `error` in a waiting caller, unless it gave up (cancelled) meanwhile."""
    if not future.done():
        future.set_exception(error)
