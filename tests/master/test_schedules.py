"""Cron schedules, in process with a fake clock: minute boundaries, no overlap, no burst."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from podium_master.events import EventHub
from podium_master.lifecycle import Lifecycle
from podium_master.metrics import MasterMetrics
from podium_master.schedules import Scheduler, latest_tick, next_tick
from podium_model import RunFilter, RunSource, RunStatus, RunUpdate, utcnow
from podium_model.config import parse_configuration
from podium_storage import DirectoryLogStore, Storage, migrate, open_storage
from podium_storage.configuration import apply_configuration

CONFIG = """
projects:
  - id: demo
    jobs:
      - id: tick
        parameters: [{key: who}]
        definition: {type: job, commands: [["true"]]}
      - id: idle
        definition: {type: job, commands: [["true"]]}
    schedules:
      - {id: every-minute, job: tick, expression: "* * * * *", parameters: {who: cron}}
      - {id: disabled, job: idle, expression: "* * * * *"}
"""


class FakeClock:
    """A clock that moves only when the test says so."""

    def __init__(self, now: datetime) -> None:
        self._now = now
        self._moved = asyncio.Condition()

    def now(self) -> datetime:
        """The fake time."""
        return self._now

    async def sleep_until(self, when: datetime) -> None:
        """Wait until the test moved the clock to `when` or later."""
        async with self._moved:
            await self._moved.wait_for(lambda: self._now >= when)

    async def move_to(self, when: datetime) -> None:
        """Set the time and wake the sleepers."""
        self._now = when
        async with self._moved:
            self._moved.notify_all()


@pytest.fixture
async def storage(database_url: str) -> AsyncIterator[Storage]:
    """A migrated database holding the demo project, its jobs and schedules."""
    await migrate(database_url)
    async with open_storage(database_url) as storage:
        await apply_configuration(storage, parse_configuration(CONFIG))
        await storage.set_schedule_enabled("demo", "disabled", False)
        yield storage


@dataclass
class _Alone:
    """The scheduler built alone, with what it is given: storage, a lifecycle, a wake callable."""

    scheduler: Scheduler
    wakes: list[None]


def _master(storage: Storage, tmp_path: Path, clock: FakeClock) -> _Alone:
    wakes: list[None] = []
    lifecycle = Lifecycle(storage, DirectoryLogStore(tmp_path), EventHub())
    return _Alone(Scheduler(storage, lifecycle, lambda: wakes.append(None), MasterMetrics(), clock), wakes)


async def _runs(storage: Storage, job: str = "tick") -> list[str]:
    page = await storage.list_runs(RunFilter(project="demo", job=job), limit=100)
    return [run.id for run in page.items]


def test_ticks_are_minute_boundaries_in_utc() -> None:
    """The next tick of `* * * * *` is the next whole minute; a tick time is its own latest tick."""
    now = datetime.fromisoformat("2024-05-01T12:00:30+00:00")
    assert next_tick("* * * * *", now) == datetime.fromisoformat("2024-05-01T12:01:00+00:00")
    boundary = datetime.fromisoformat("2024-05-01T12:01:00+00:00")
    assert latest_tick("* * * * *", boundary) == boundary
    assert latest_tick("0 3 * * *", now) == datetime.fromisoformat("2024-05-01T03:00:00+00:00")


async def test_fires_at_next_minute_never_overlaps_never_bursts(storage: Storage, tmp_path: Path) -> None:
    """A schedule fires at the minute boundary, skips ticks while its run is pending, and fires once after downtime."""
    start = utcnow()
    clock = FakeClock(start)
    master = _master(storage, tmp_path, clock)
    boundary = next_tick("* * * * *", (await storage.get_schedule("demo", "every-minute")).created_at)  # type: ignore[union-attr]

    await clock.move_to(boundary - timedelta(seconds=1))
    assert await master.scheduler.fire_due() == boundary
    assert await _runs(storage) == []
    assert master.wakes == []

    await clock.move_to(boundary)
    assert await master.scheduler.fire_due() == boundary + timedelta(minutes=1)
    [first] = await _runs(storage)
    run = await storage.get_run(first)
    assert run is not None and run.source.type == "schedule" and run.source.schedule == "every-minute"
    assert run.parameters == {"who": "cron"}
    assert len(master.wakes) == 1  # the dispatcher was told

    await clock.move_to(boundary + timedelta(minutes=1))  # the first run is still pending: skipped
    await master.scheduler.fire_due()
    assert await _runs(storage) == [first]
    schedule = await storage.get_schedule("demo", "every-minute")
    assert schedule is not None and schedule.last_run == first
    assert schedule.last_fired_at == boundary + timedelta(minutes=1)

    await storage.transition_run(first, [RunStatus.pending], RunStatus.succeeded, RunUpdate())
    await clock.move_to(boundary + timedelta(minutes=30, seconds=5))  # 29 missed ticks: one run
    assert await master.scheduler.fire_due() == boundary + timedelta(minutes=31)
    assert len(await _runs(storage)) == 2
    await master.scheduler.fire_due()
    assert len(await _runs(storage)) == 2
    assert await _runs(storage, "idle") == []  # the disabled schedule never fired


async def test_a_tick_started_before_a_crash_is_not_started_again(storage: Storage, tmp_path: Path) -> None:
    """A master that stopped between starting a schedule's run and recording it finds that run on restart."""
    now = utcnow()
    due = latest_tick("* * * * *", now) - timedelta(minutes=1)  # missed while the master was down
    await storage.set_schedule_fired("demo", "every-minute", None, due - timedelta(minutes=1))
    source = RunSource(type="schedule", schedule="every-minute")
    started = await storage.create_run("demo", "tick", {"who": "cron"}, source)  # then the crash
    await storage.create_run("demo", "tick", {}, RunSource(type="api", user="admin"))  # not the schedule's
    master = _master(storage, tmp_path, FakeClock(now))

    assert await master.scheduler.fire_due() == next_tick("* * * * *", now)
    assert len(await _runs(storage)) == 2
    schedule = await storage.get_schedule("demo", "every-minute")
    assert schedule is not None and schedule.last_run == started.id
    assert schedule.last_fired_at == latest_tick("* * * * *", now)


async def test_the_recorded_run_does_not_stand_for_the_next_tick(storage: Storage, tmp_path: Path) -> None:
    """The run recorded for a tick, created just past the next tick's boundary, does not cover that tick."""
    now = utcnow()
    recorded = await storage.create_run("demo", "tick", {}, RunSource(type="schedule", schedule="every-minute"))
    await storage.transition_run(recorded.id, [RunStatus.pending], RunStatus.succeeded, RunUpdate())
    # Recorded for the tick before: its creation fell after the boundary of the tick now due.
    await storage.set_schedule_fired(
        "demo", "every-minute", recorded.id, latest_tick("* * * * *", now) - timedelta(minutes=1)
    )
    master = _master(storage, tmp_path, FakeClock(now))

    await master.scheduler.fire_due()
    assert len(await _runs(storage)) == 2
    schedule = await storage.get_schedule("demo", "every-minute")
    assert schedule is not None and schedule.last_run != recorded.id


async def test_timer_sleeps_until_the_tick(storage: Storage, tmp_path: Path) -> None:
    """The scheduler's loop wakes at the tick of the fake clock and starts the run."""
    clock = FakeClock(utcnow())
    master = _master(storage, tmp_path, clock)
    schedule = await storage.get_schedule("demo", "every-minute")
    assert schedule is not None
    boundary = next_tick("* * * * *", schedule.created_at)
    loop = asyncio.create_task(master.scheduler.run_forever())
    try:
        await clock.move_to(boundary)
        async with asyncio.timeout(20):
            while not await _runs(storage):
                await asyncio.sleep(0.01)
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop


async def test_two_schedulers_that_both_believe_they_lead_fire_a_tick_once(storage: Storage, tmp_path: Path) -> None:
    """Each tick is claimed by a compare-and-set: of two masters firing it, one starts its run."""
    schedule = await storage.get_schedule("demo", "every-minute")
    assert schedule is not None
    boundary = next_tick("* * * * *", schedule.created_at)
    clock = FakeClock(boundary)
    first, second = _master(storage, tmp_path, clock), _master(storage, tmp_path, clock)
    await asyncio.gather(first.scheduler.fire_due(), second.scheduler.fire_due())
    assert len(await _runs(storage)) == 1
    assert len(first.wakes) + len(second.wakes) == 1  # only the one that started it wakes its dispatcher
