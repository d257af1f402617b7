"""Cron schedules: standard 5-field expressions evaluated in UTC (docs/concepts.md, Data model).

A schedule fires at each tick of its expression, at most once for any number of missed
ticks (a master that was down does not burst), never while the run it last started is still
pending or running (that tick is skipped and recorded), and never while disabled. A tick is
started once even across a crash: a run started but not yet recorded as the schedule's (the
master stopped in between) is found among the job's runs and recorded instead. Only the
leader of the database's masters runs the scheduler (`leader`), and each tick is claimed
first by a compare-and-set on the schedule's `last_fired_at` (`claim_schedule_tick`): of two
masters that both believe they lead for a moment, one fires it, the other leaves it. A master
killed between the claim and the run's creation loses that one tick (at most once). The timer
sleeps until the earliest next tick; `wake()` (a control dispatch, a configuration apply)
makes it re-read the schedules at once. Time comes from a `Clock`, which tests replace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from croniter import CroniterError, croniter

from podium_master.lifecycle import Lifecycle
from podium_master.metrics import MasterMetrics
from podium_model import Run, RunFilter, RunSource, RunStatus, Schedule, utcnow
from podium_model.parameters import secret_keys
from podium_model.schedules import check_expression
from podium_storage.interface import Storage, StorageError

logger = logging.getLogger(__name__)

_BUSY = (RunStatus.pending, RunStatus.running)
_RETRY = timedelta(seconds=30)  # after a failed pass (database away), try again this soon
_STARTED_LOOKUP = 20  # runs of the job read to find one a schedule started but did not record


class Clock(Protocol):
    """Where the scheduler reads the time and waits."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""

    async def sleep_until(self, when: datetime) -> None:
        """Return once `now()` reached `when`."""


class RealClock:
    """The system clock."""

    def now(self) -> datetime:
        """The current UTC time."""
        return utcnow()

    async def sleep_until(self, when: datetime) -> None:
        """Sleep until `when` (the loop's timer; woken early, the caller simply looks again)."""
        await asyncio.sleep(max(0.0, (when - utcnow()).total_seconds()))


def latest_tick(expression: str, now: datetime) -> datetime:
    """The last tick of `expression` at or before `now`."""
    tick: datetime = croniter(expression, now).get_prev(datetime)
    following: datetime = croniter(expression, tick).get_next(datetime)
    return following if following <= now else tick


def next_tick(expression: str, after: datetime) -> datetime:
    """The first tick of `expression` strictly after `after`."""
    tick: datetime = croniter(expression, after).get_next(datetime)
    return tick


class Scheduler:
    """Fires the enabled schedules of every project; run by the leader of the masters only.

    Args:
        storage: where schedules are read and their ticks recorded.
        lifecycle: where a tick's run is created (and published).
        wake: tells the dispatcher a run is waiting.
        metrics: counts the passes the database refused.
        clock: where time is read (the system clock unless a test gives one).
        reread: seconds between reads of the schedules at the longest (None: only at a tick or a
            wake-up). Several masters: a schedule applied through another master does not wake
            this one, so the leader reads them again this often.
    """

    def __init__(
        self,
        storage: Storage,
        lifecycle: Lifecycle,
        wake: Callable[[], None],
        metrics: MasterMetrics,
        clock: Clock | None = None,
        reread: float | None = None,
    ) -> None:
        self.reread = None if reread is None else timedelta(seconds=reread)
        self.storage = storage
        self.lifecycle = lifecycle
        self._wake_dispatcher = wake
        self.metrics = metrics
        self.clock: Clock = clock or RealClock()
        self._event = asyncio.Event()
        self._invalid: set[tuple[str, str, str]] = set()

    def wake(self) -> None:
        """Re-read the schedules now (they may have changed)."""
        self._event.set()

    async def run_forever(self) -> None:
        """Fire what is due, sleep until the next tick or a wake-up, repeat."""
        while True:
            self._event.clear()
            try:
                upcoming = await self.fire_due()
            except asyncio.CancelledError:
                raise
            except StorageError as exc:
                self.metrics.storage_errors.inc()
                logger.warning("schedule pass paused (database error), retrying soon: %s", exc)
                upcoming = self.clock.now() + _RETRY
            except Exception:
                logger.exception("schedule pass failed; retrying soon")
                upcoming = self.clock.now() + _RETRY
            if self.reread is not None:
                soon = self.clock.now() + self.reread
                upcoming = soon if upcoming is None else min(upcoming, soon)
            waits: list[asyncio.Future[object]] = [asyncio.ensure_future(self._event.wait())]
            if upcoming is not None:
                waits.append(asyncio.ensure_future(self.clock.sleep_until(upcoming)))
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await wait

    async def fire_due(self) -> datetime | None:
        """Fire every schedule whose tick came; return the earliest next tick (None: none)."""
        now = self.clock.now()
        upcoming: datetime | None = None
        for schedule in await self.storage.list_schedules():
            if not schedule.is_enabled:
                continue
            key = (schedule.project, schedule.id, schedule.expression)
            try:
                check_expression(schedule.expression)
                since = schedule.last_fired_at or schedule.created_at
                due = next_tick(schedule.expression, since)
                if due <= now:
                    since = latest_tick(schedule.expression, now)  # missed ticks collapse into one
                    await self._fire(schedule, since, due)
                following = next_tick(schedule.expression, since)
            except (ValueError, CroniterError) as exc:
                if key not in self._invalid:
                    self._invalid.add(key)
                    logger.error("schedule %s/%s: %s", schedule.project, schedule.id, exc)
                continue
            if upcoming is None or following < upcoming:
                upcoming = following
        return upcoming

    async def _fire(self, schedule: Schedule, tick: datetime, due: datetime) -> None:
        """Start the run of `tick` (covering the ticks since `due`), unless one stands for it already."""
        storage = self.storage
        where = f"{schedule.project}/{schedule.id}"
        started = await self._started_since(schedule, due)
        if started is not None:
            # A master that stopped between starting the run and recording it: record it now.
            logger.info("schedule %s: tick %s was started already as run %s", where, tick, started.id)
            await storage.set_schedule_fired(schedule.project, schedule.id, started.id, tick)
            return
        if not await storage.claim_schedule_tick(schedule.project, schedule.id, tick):
            logger.info("schedule %s: tick %s was fired already by another master", where, tick)
            return
        # Claimed: the tick is recorded as fired; a skip below needs no further write.
        if tick > due:  # said, so that an operator (and a test) can tell a collapse from a lost tick
            logger.info("schedule %s: tick %s covers the ticks missed since %s", where, tick, due)
        if schedule.last_run is not None:
            last = await storage.get_run(schedule.last_run)
            if last is not None and last.status in _BUSY:
                logger.info("schedule %s: tick %s skipped, run %s is %s", where, tick, last.id, last.status)
                return
        job = await storage.get_job(schedule.project, schedule.job)
        if job is None or not job.is_enabled:
            state = "missing" if job is None else "disabled"
            logger.warning("schedule %s: tick %s skipped, job %s is %s", where, tick, schedule.job, state)
            return
        source = RunSource(type="schedule", schedule=schedule.id)
        secret = secret_keys(job.parameters)
        run = await self.lifecycle.create(schedule.project, job, dict(schedule.parameters), source, None, secret)
        await storage.set_schedule_fired(schedule.project, schedule.id, run.id, tick)
        logger.info("schedule %s fired for %s: run %s", where, tick, run.id)
        self._wake_dispatcher()

    async def _started_since(self, schedule: Schedule, due: datetime) -> Run | None:
        """The newest run `schedule` started at or after `due` and did not record, if any.

        Its recorded run is left out: created just after a tick boundary, it would otherwise
        stand for the next tick too.
        """
        filter = RunFilter(project=schedule.project, job=schedule.job, source="schedule", created_after=due)
        page = await self.storage.list_runs(filter, limit=_STARTED_LOOKUP)
        unrecorded = (r for r in page.items if r.source.schedule == schedule.id and r.id != schedule.last_run)
        return next(unrecorded, None)
