"""The master↔api event contract: what the master's hub sends is what the api's feed reads."""

from __future__ import annotations

import json
import logging

import pytest

from podium_api.feed import MasterFeed
from podium_master.events import EventHub
from podium_model import Run, RunSource, RunStatus, Worker, utcnow
from podium_model.control import LogGrew, RunChanged, WorkerChanged, events_adapter


def _run(status: RunStatus = RunStatus.succeeded) -> Run:
    now = utcnow()
    return Run(
        project="demo", id="r1", job="hello", source=RunSource(type="pipeline", run="p1"), status=status,
        created_at=now, completed_at=now, updated_at=now,
    )  # fmt: skip


def _worker() -> Worker:
    now = utcnow()
    return Worker(id="w1", owner="workers", created_at=now, updated_at=now)


async def test_a_frame_of_the_hub_reads_back_as_the_same_models() -> None:
    """Run, worker and log events, dumped in one frame as /control/events sends them, validate back equal."""
    hub = EventHub()
    subscription = hub.subscribe()
    run, worker = _run(), _worker()
    hub.run_changed(run)
    hub.worker_changed(worker)
    hub.log_grew("demo", "r1", 42)
    frame = events_adapter.dump_json(await subscription.batch()).decode()
    assert json.loads(frame)[0] == {"kind": "run", "run": run.model_dump(mode="json")}
    assert events_adapter.validate_json(frame) == [
        RunChanged(run=run),
        WorkerChanged(worker=worker),
        LogGrew(project="demo", run_id="r1", size=42),
    ]


async def test_the_feed_keeps_the_valid_events_of_a_frame_with_a_malformed_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A malformed event is logged and dropped; the others of its frame still reach subscribers."""
    feed = MasterFeed("http://127.0.0.1:1", "secret")
    subscription = feed.subscribe()
    good = {"kind": "log", "project": "demo", "run_id": "r1", "size": 3}
    with caplog.at_level(logging.WARNING, logger="podium_api.feed"):
        feed._receive(json.dumps([{"kind": "run", "run": {"id": "r1"}}, good, {"kind": "nonsense"}]))
        feed._receive("not json")
    assert subscription.pending() == [LogGrew(project="demo", run_id="r1", size=3)]
    assert sum("malformed" in record.message for record in caplog.records) == 3
    feed._receive(json.dumps(good))  # an older master sent one object per frame
    assert subscription.pending() == [LogGrew(project="demo", run_id="r1", size=3)]
