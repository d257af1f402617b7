"""Runs of a worker that does not come back end `exception` after `worker_lost_timeout` seconds.

A worker's runs keep running while it is away: its executors carry on, and once it is back the
master resyncs them. A worker that stays away (its machine is gone) would otherwise leave them
`running` forever, beyond the reach of an abort. So once a worker has been away
`worker_lost_timeout` seconds, timed from its disconnection (or from the master's start for a
worker that was away then), its running runs end `exception` with the reason
"worker W lost: away for more than N s". A worker that comes back later still holding one is
told to abort it (`reconcile`): what it sends meanwhile is kept, and it is cleaned once stopped.

Each absence arms one timer (a deadline, not polling); a worker back in time disarms it.

Several masters on one database: a worker's runs end only once it is away from every master.
The timer reads the worker's row before ending anything: a worker another master holds
(`master` names it, and its `last_seen` is recent, `seen_within`) keeps its runs, and this
master looks again one timeout later, so a worker whose new master died too is still timed
(its `last_seen` then stops moving). A worker moving from master A to B: B writes the row
when it reconciles the new connection; A's disconnection only marks it inactive if A still
holds it (`release_worker`), and A's timer, firing later, finds B's name and keeps the runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Container
from datetime import datetime, timedelta

from podium_master.lifecycle import RUNNING, Lifecycle
from podium_master.metrics import MasterMetrics
from podium_master.retry import until_stored
from podium_master.settings import MasterSettings
from podium_model import RunStatus, RunUpdate, Worker, utcnow
from podium_storage.interface import Storage

logger = logging.getLogger(__name__)


class LostWorkers:
    """The timers of the workers away now; each ends the runs its worker still has when it fires.

    Args:
        storage: where the running runs of a worker are read.
        lifecycle: where they end.
        connected: the ids of the workers connected now (the master's live sessions).
        timeout: seconds a worker may be away before its runs end (0: never).
        metrics: counts the runs ended (`podium_master_runs_lost_total`).
        master_id: this master's id: a worker whose row names another master is that master's.
        seen_within: how long a worker connected to some master may go without its `last_seen` written.
    """

    def __init__(
        self,
        storage: Storage,
        lifecycle: Lifecycle,
        connected: Container[str],
        timeout: float,
        metrics: MasterMetrics,
        master_id: str = "",
        seen_within: timedelta = timedelta(seconds=35),
    ) -> None:
        self.storage = storage
        self.lifecycle = lifecycle
        self.connected = connected
        self.timeout = timeout
        """Seconds a worker may be away before its runs end (0: never)."""
        self.metrics = metrics
        self.master_id = master_id
        self._fresh = max(timedelta(seconds=timeout), seen_within)
        """A worker another master holds and seen within this is away from no master."""
        self._timers: dict[str | None, asyncio.Task[None]] = {}
        self._returned: set[str] = set()
        """Workers connected since the master started: their own absences are timed, not the start's."""
        self._closed = False

    def start(self) -> None:
        """Arm the timer of the workers away at the master's start (None stands for them all)."""
        self._arm(None)

    def away(self, worker_id: str) -> None:
        """`worker_id` disconnected: its runs end unless it is back within the timeout."""
        self._arm(worker_id)

    def back(self, worker_id: str) -> None:
        """`worker_id` connected: its runs are safe."""
        self._returned.add(worker_id)
        self._disarm(worker_id)

    def close(self) -> None:
        """Disarm every timer, and arm no more (the master is stopping)."""
        self._closed = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def _disarm(self, key: str | None) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    def _arm(self, key: str | None) -> None:
        if self.timeout <= 0 or self._closed:
            return
        self._disarm(key)
        timer = asyncio.create_task(self._expire(key), name=f"worker lost {key or '(away at start)'}")
        self._timers[key] = timer

        def forget(done: asyncio.Task[None]) -> None:
            if self._timers.get(key) is done:
                del self._timers[key]

        timer.add_done_callback(forget)

    async def _expire(self, key: str | None) -> None:
        await asyncio.sleep(self.timeout)
        try:
            _, kept = await until_stored(lambda: self._end(key), "ending the runs of a lost worker", self.metrics)
        except Exception:
            logger.exception("ending the runs of lost worker %s failed", key or "(away at start)")
            return
        if kept:  # held by another master now: look again, in case that master goes too
            self._arm(key)

    async def end_runs(self, worker_id: str | None = None) -> int:
        """End the running runs of `worker_id` if it is away; None: of the workers away since the start."""
        ended, _ = await self._end(worker_id)
        return ended

    def _holder(self, worker: Worker | None, now: datetime) -> str | None:
        """The other master holding `worker` now, if any (its row names it and was written lately)."""
        if worker is None or worker.master is None or worker.master == self.master_id:
            return None
        if worker.last_seen is None or worker.last_seen < now - self._fresh:
            return None  # its master is gone too (nothing writes its last_seen)
        return worker.master

    async def _end(self, worker_id: str | None) -> tuple[int, int]:
        """End the runs of the workers away from every master: (runs ended, runs kept for another master)."""
        ended = kept = 0
        now = utcnow()
        rows: dict[str, Worker | None] = {}
        for run in await self.storage.list_active_runs(worker=worker_id):
            if run.status != RunStatus.running or run.worker is None or run.worker in self.connected:
                continue  # pending, a pipeline's own run (no worker), or its worker is connected
            if worker_id is None and run.worker in self._returned:
                continue  # it came and went since the start: its own timer decides
            if run.worker not in rows:
                rows[run.worker] = await self.storage.get_worker(run.worker)
            holder = self._holder(rows[run.worker], now)
            if holder is not None:
                kept += 1
                ids = {"run_id": run.id, "worker_id": run.worker}
                logger.info("run %s kept: worker %s is held by master %s", run.id, run.worker, holder, extra=ids)
                continue
            reason = f"worker {run.worker} lost: away for more than {self.timeout:g} s"
            changes = RunUpdate(reason=reason, completed_at=utcnow())
            if await self.lifecycle.transition(run.id, RUNNING, RunStatus.exception, changes) is not None:
                ended += 1
                self.metrics.runs_lost.inc()
                ids = {"run_id": run.id, "worker_id": run.worker}
                logger.warning("run %s ended exception: %s", run.id, reason, extra=ids)
        return ended, kept


def seen_within(settings: MasterSettings) -> timedelta:
    """How long a worker connected to some master may go without its `last_seen` written.

    A heartbeat at least every `heartbeat_timeout` (else it is dropped), written within
    `heartbeat_write_interval`: a worker unseen longer is connected to no live master.
    """
    return timedelta(seconds=settings.heartbeat_timeout + settings.heartbeat_write_interval)
