"""Which runs the lost-worker timers end, in process against real storage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from podium_master.events import EventHub
from podium_master.lifecycle import Lifecycle
from podium_master.lost import LostWorkers
from podium_master.metrics import MasterMetrics
from podium_model import RunSource, RunStatus, RunUpdate, WorkerUpdate, utcnow
from podium_model.config import parse_configuration
from podium_storage import DirectoryLogStore, Storage, migrate, open_storage
from podium_storage.configuration import apply_configuration

CONFIG = """
projects:
  - id: demo
    jobs:
      - id: work
        definition: {type: job, commands: [["true"]]}
"""


@pytest.fixture
async def storage(database_url: str) -> AsyncIterator[Storage]:
    """A migrated database holding the demo project."""
    await migrate(database_url)
    async with open_storage(database_url) as storage:
        await apply_configuration(storage, parse_configuration(CONFIG))
        yield storage


async def _running_on(storage: Storage, worker: str) -> str:
    run = await storage.create_run("demo", "work", {}, RunSource(type="api"))
    moved = await storage.transition_run(run.id, [RunStatus.pending], RunStatus.running, RunUpdate(worker=worker))
    assert moved is not None
    return run.id


async def test_the_start_timer_spares_workers_that_came_since_and_each_own_timer_ends_its_runs(
    storage: Storage, tmp_path: Path
) -> None:
    """Away since the start: ended by the start's timer. Came and went since: only by its own.

    The timers are built alone: storage, a lifecycle and the ids of the workers connected now.
    """
    metrics = MasterMetrics()
    lifecycle = Lifecycle(storage, DirectoryLogStore(tmp_path), EventHub(), metrics)
    connected = {"here"}
    lost = LostWorkers(storage, lifecycle, connected, 60, metrics)
    here = await _running_on(storage, "here")
    never_back = await _running_on(storage, "gone")
    came_and_went = await _running_on(storage, "flaky")
    lost.back("flaky")  # connected after the start (and is away again: not in the sessions)

    assert await lost.end_runs() == 1
    gone = await storage.get_run(never_back)
    assert gone is not None and gone.status == RunStatus.exception
    assert gone.reason == "worker gone lost: away for more than 60 s" and gone.completed_at is not None
    flaky = await storage.get_run(came_and_went)
    assert flaky is not None and flaky.status == RunStatus.running

    assert await lost.end_runs("flaky") == 1
    flaky = await storage.get_run(came_and_went)
    assert flaky is not None and flaky.status == RunStatus.exception
    assert metrics.registry.get_sample_value("podium_master_runs_lost_total") == 2
    connected_run = await storage.get_run(here)
    assert connected_run is not None and connected_run.status == RunStatus.running
    lost.close()


async def test_a_worker_held_by_another_master_keeps_its_runs(storage: Storage, tmp_path: Path) -> None:
    """Several masters: the timer ends only the runs of workers away from every master.

    A worker whose row names another master, seen lately, keeps its run (and the timer looks
    again later); one whose other master is gone too (its last_seen stopped) or that names
    this master loses it.
    """
    metrics = MasterMetrics()
    lifecycle = Lifecycle(storage, DirectoryLogStore(tmp_path), EventHub(), metrics)
    lost = LostWorkers(storage, lifecycle, set(), 60, metrics, "a", timedelta(seconds=35))
    now = utcnow()
    rows = {"moved": ("b", now), "orphan": ("b", now - timedelta(minutes=5)), "mine": ("a", now)}
    runs = {}
    for worker, (master, seen) in rows.items():
        await storage.put_worker(worker, "workers", WorkerUpdate(is_active=True, master=master, last_seen=seen))
        runs[worker] = await _running_on(storage, worker)

    assert await lost.end_runs() == 2
    statuses = {worker: run.status for worker in runs if (run := await storage.get_run(runs[worker]))}
    assert statuses == {"moved": RunStatus.running, "orphan": RunStatus.exception, "mine": RunStatus.exception}
    lost.close()
