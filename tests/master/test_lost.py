"""Which runs the lost-worker timers end, in process against real storage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from podium_master.master import Master
from podium_master.settings import MasterSettings
from podium_model import RunSource, RunStatus, RunUpdate
from podium_model.config import parse_configuration
from podium_storage import LogStore, Storage, migrate, open_storage
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
    """Away since the start: ended by the start's timer. Came and went since: only by its own."""
    master = Master(MasterSettings(log_dir=tmp_path, worker_lost_timeout=60), storage, LogStore(tmp_path))
    never_back = await _running_on(storage, "gone")
    came_and_went = await _running_on(storage, "flaky")
    master.lost.back("flaky")  # connected after the start (and is away again: not in the sessions)

    assert await master.lost.end_runs() == 1
    gone = await storage.get_run(never_back)
    assert gone is not None and gone.status == RunStatus.exception
    assert gone.reason == "worker gone lost: away for more than 60 s" and gone.completed_at is not None
    flaky = await storage.get_run(came_and_went)
    assert flaky is not None and flaky.status == RunStatus.running

    assert await master.lost.end_runs("flaky") == 1
    flaky = await storage.get_run(came_and_went)
    assert flaky is not None and flaky.status == RunStatus.exception
    assert master.metrics.registry.get_sample_value("podium_master_runs_lost_total") == 2
    master.lost.close()
