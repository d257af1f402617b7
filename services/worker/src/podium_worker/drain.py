"""What SIGTERM and SIGINT do to the worker: stop at once, or drain first (`--drain`).

Without drain the worker stops at once and leaves its executors running: a restarted worker
finds them on disk and the master resyncs them. With drain, the first signal makes the worker
take no new run (the master hears it from an immediate heartbeat, and an `execute` already on
the wire is refused) and wait until every run it holds was cleaned, that is until the master
holds each run's whole log and final status; then it stops and the process exits 0. A second
signal during a drain stops at once, as with Jenkins agents and GitLab runners.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from podium_worker.connection import MasterConnection
    from podium_worker.runs import RunSet

logger = logging.getLogger(__name__)


class Stopper:
    """The signal handler of `serve`: one instance per worker process."""

    def __init__(self, connection: MasterConnection, runs: RunSet, drain: bool) -> None:
        self.connection = connection
        self.runs = runs
        self.drain = drain
        self._drain_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def signalled(self) -> None:
        """SIGTERM or SIGINT arrived (called by the event loop)."""
        if self.drain and self._drain_task is None:
            self._drain_task = self._spawn(self._drain(), "drain")
            return
        if self._drain_task is not None and not self._drain_task.done():
            logger.warning(
                "second signal while draining: stopping at once; %d runs keep running for the next start",
                self.runs.active_count(),
            )
            self._drain_task.cancel()
        self._spawn(self.connection.stop(), "stop")

    def _spawn(self, coroutine: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)
        return task

    async def _drain(self) -> None:
        logger.info(
            "draining: taking no new run; waiting for %d running runs (%d held) to reach the master",
            self.runs.active_count(),
            len(self.runs.runs),
        )
        await self.connection.start_draining()
        await self.runs.wait_until_empty()
        logger.info("drained: the master holds every run of this worker; stopping")
        await self.connection.stop()

    async def close(self) -> None:
        """The worker is stopping: end a drain still waiting, and let the stop tasks finish."""
        if self._drain_task is not None:
            self._drain_task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
