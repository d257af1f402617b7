"""The dispatcher built alone (no master, no worker) against real storage: each step of a pass."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from podium_master.dispatcher import Dispatcher
from podium_master.events import EventHub
from podium_master.lifecycle import Lifecycle
from podium_master.metrics import MasterMetrics
from podium_master.poison import Bounces
from podium_master.secrets import RunSecrets
from podium_master.selector import load_selector
from podium_master.session import WorkerSession
from podium_master.settings import MasterSettings
from podium_model import Job, Run, RunSource, RunStatus, RunUpdate, new_id, utcnow
from podium_model.config import parse_configuration
from podium_model.control import RunChanged
from podium_model.retries import RetryPolicy
from podium_storage import DirectoryLogStore, Storage, migrate, open_storage
from podium_storage.configuration import apply_configuration

CONFIG = """
projects:
  - id: demo
    jobs:
      - id: work
        definition: {type: job, commands: [["true"]]}
      - id: idle
        definition: {type: job, commands: [["true"]]}
      - id: pipe
        definition:
          type: pipeline
          elements:
            - {id: one, job: work}
"""


class Engine:
    """A pipeline engine that only records the runs it is handed."""

    def __init__(self) -> None:
        self.started: list[tuple[str, str]] = []

    async def start(self, run: Run, job: Job) -> None:
        """Record the run and its job."""
        self.started.append((run.id, job.id))


@pytest.fixture
async def storage(database_url: str) -> AsyncIterator[Storage]:
    """A migrated database holding the demo project, its job `idle` disabled."""
    await migrate(database_url)
    async with open_storage(database_url) as storage:
        await apply_configuration(storage, parse_configuration(CONFIG))
        await storage.set_job_enabled("demo", "idle", False)
        yield storage


def _dispatcher(storage: Storage, tmp_path: Path, **settings: float) -> tuple[Dispatcher, Engine, EventHub]:
    """A dispatcher given only what it uses; no worker is connected."""
    events, metrics, engine = EventHub(), MasterMetrics(), Engine()
    lifecycle = Lifecycle(storage, DirectoryLogStore(tmp_path), events, metrics)
    sessions: dict[str, WorkerSession] = {}
    master_settings = MasterSettings(log_dir=tmp_path, **settings)
    bounces = Bounces(master_settings, lifecycle, metrics, lambda: None)
    selector = load_selector(None)
    secrets = RunSecrets(storage, None)
    dispatcher = Dispatcher(master_settings, storage, lifecycle, sessions, engine, selector, metrics, bounces, secrets)
    return dispatcher, engine, events


async def _pending(storage: Storage, job: str) -> Run:
    return await storage.create_run("demo", job, {}, RunSource(type="api"))


async def test_a_sweep_cancels_flagged_runs_hands_pipelines_over_and_explains_the_rest(
    storage: Storage, tmp_path: Path
) -> None:
    """Flagged: cancelled (reason kept, published, counted). Pipeline: to the engine. Others: a waiting reason."""
    dispatcher, engine, events = _dispatcher(storage, tmp_path)
    subscription = events.subscribe()
    flagged = await _pending(storage, "work")
    changes = RunUpdate(should_cancel=True, reason="cancelled by alice")
    assert await storage.transition_run(flagged.id, [RunStatus.pending], RunStatus.pending, changes)
    pipeline = await _pending(storage, "pipe")
    waiting = await _pending(storage, "work")
    disabled = await _pending(storage, "idle")

    assert await dispatcher.dispatch_once(sweep=True) == 0

    cancelled = await storage.get_run(flagged.id)
    assert cancelled is not None and cancelled.status == RunStatus.cancelled
    assert cancelled.reason == "cancelled by alice"
    published = [event.run for event in subscription.pending() if isinstance(event, RunChanged)]
    assert [run.status for run in published if run.id == flagged.id] == [RunStatus.cancelled]
    finished = dispatcher.metrics.registry.get_sample_value("podium_runs_finished_total", {"status": "cancelled"})
    assert finished == 1
    assert engine.started == [(pipeline.id, "pipe")]
    for run_id, reason in ((waiting.id, "no worker connected"), (disabled.id, "its job is disabled")):
        run = await storage.get_run(run_id)
        assert run is not None and run.status == RunStatus.pending and run.waiting_reason == reason


async def test_a_signalled_round_expires_old_runs(storage: Storage, tmp_path: Path) -> None:
    """A run pending longer than `pending_expiry` is cancelled with a reason that says so."""
    dispatcher, _, _ = _dispatcher(storage, tmp_path, pending_expiry=0.001)
    run = await _pending(storage, "work")
    assert await dispatcher.dispatch_once(sweep=False) == 0
    expired = await storage.get_run(run.id)
    assert expired is not None and expired.status == RunStatus.cancelled
    assert expired.reason is not None and expired.reason.startswith("expired: no worker took it within 0.001 s")


async def test_the_lifecycle_publishes_a_retry_and_says_when_it_is_due(storage: Storage, tmp_path: Path) -> None:
    """The final status that creates a retry publishes the new run and hands its not-before time on."""
    dispatcher, _, events = _dispatcher(storage, tmp_path)
    due: list[datetime | None] = []
    dispatcher.lifecycle.retry_due = due.append
    subscription = events.subscribe()
    run = await _pending(storage, "work")
    await dispatcher.lifecycle.claim(run.id, "w1", RetryPolicy(attempts=2, delay=30))
    ended = await dispatcher.lifecycle.transition(run.id, [RunStatus.running], RunStatus.failed)
    assert ended is not None and ended.retried_by is not None and ended.completed_at is not None
    published = [event.run for event in subscription.pending() if isinstance(event, RunChanged)]
    retry = published[-1]
    assert retry.id == ended.retried_by and retry.status is RunStatus.pending and retry.attempt == 2
    assert due == [ended.completed_at + timedelta(seconds=30)] == [retry.not_before]


async def test_a_retry_waits_out_its_delay_on_a_timer(storage: Storage, tmp_path: Path) -> None:
    """A retry before its not-before time is left alone (not expired, reason kept) and a timer wakes the loop."""
    dispatcher, _, _ = _dispatcher(storage, tmp_path, pending_expiry=60)
    now = utcnow()
    created = now - timedelta(hours=1)  # past the expiry: only the not-before time keeps it
    retry = Run(
        project="demo", id=new_id(), job="work", source=RunSource(type="retry", run=new_id()), attempt=2,
        not_before=now + timedelta(seconds=0.3), waiting_reason="attempt 2 of 2: waits its retry delay",
        created_at=created, updated_at=created,
    )  # fmt: skip
    await storage.import_run(retry)
    assert retry.not_before is not None

    assert await dispatcher.dispatch_once(sweep=True) == 0
    waiting = await storage.get_run(retry.id)
    assert waiting is not None and waiting.status is RunStatus.pending
    assert waiting.waiting_reason == retry.waiting_reason  # not replaced by "no worker connected"
    dispatcher._event.clear()
    await asyncio.wait_for(dispatcher._event.wait(), 10)  # the timer, with no other signal
    assert utcnow() >= retry.not_before

    # Past its time it is an ordinary pending run, its expiry counted from its not-before time.
    await dispatcher.dispatch_once(sweep=True)
    due = await storage.get_run(retry.id)
    assert due is not None and due.status is RunStatus.pending and due.waiting_reason == "no worker connected"
