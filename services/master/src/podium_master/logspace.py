"""A full log disk degrades the master, it does not crash it (issue 17).

When the log store refuses a chunk (`LogStoreFull`: ENOSPC or a quota), the master stops
accepting log bytes for that run: it holds what it has, drops what the worker sends meanwhile
(the worker keeps every byte on its own disk, as after a disconnection) and keeps the
connection. The master is `degraded` (`/health`, `podium_master_log_disk_full`), logged once when
the disk fills and once when it takes bytes again, never per chunk.

What tells the master that space is back is a write that succeeds. So a timer (1 s, doubling up
to 30 s while the disk stays full) asks the worker of each waiting run to send again from the
offset the master holds (`resync`); the first chunk stored ends the degraded state, and every
run resumes where it stopped. The retries cost one refused chunk per waiting run per attempt,
nothing on the path of a disk with room.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from podium_master.metrics import MasterMetrics

logger = logging.getLogger(__name__)

RETRY_FIRST = 1.0
RETRY_MAX = 30.0


class Resending(Protocol):
    """A worker connection that can be asked to send a run's log again (`session.WorkerSession`)."""

    def send_log_again(self, run_id: str) -> None:
        """Ask the worker to send `run_id` from the offset the master holds."""


class LogSpace:
    """Whether the log store takes bytes, and the runs waiting for it to take them again.

    Args:
        metrics: the disk-full gauge and the refused-chunks counter.
    """

    def __init__(self, metrics: MasterMetrics) -> None:
        self.metrics = metrics
        self.full = False
        self._waiting: dict[str, Resending] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._delay = RETRY_FIRST

    def refused(self, session: Resending, run_id: str, reason: str) -> None:
        """The store refused a chunk of `run_id`: wait for space, then ask its worker to send again."""
        if not self.full:
            self.full = True
            self.metrics.log_disk_full.set(1)
            logger.warning("log store full (%s): log bytes wait on the workers until space returns", reason)
        self.metrics.log_chunks_refused.inc()
        self._waiting[run_id] = session
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._delay, self._retry)
            self._delay = min(self._delay * 2, RETRY_MAX)

    def accepted(self) -> None:
        """A chunk was stored while the store was full: space is back."""
        self.full = False
        self._delay = RETRY_FIRST
        self.metrics.log_disk_full.set(0)
        logger.info("log store takes bytes again: the waiting runs resume")
        self._retry()  # the others need not wait for the timer

    def close(self) -> None:
        """Stop retrying (the master is stopping)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._waiting.clear()

    def _retry(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiting, self._waiting = self._waiting, {}
        for run_id, session in waiting.items():
            session.send_log_again(run_id)
