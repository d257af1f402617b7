"""The MongoDB outbox: a run marked with its final status gets its deliveries even after a stop in between."""

from __future__ import annotations

from podium_model import RunSource, RunStatus
from podium_model.notifications import Notification
from podium_storage.interface import RunWrite
from podium_storage.mongo import MongoStorage
from podium_storage.mongo.deliveries import OUTBOX

NOTIFY = {"p": [Notification(url="http://127.0.0.1:9/x", events=["run.finished"], secret="HOOK")]}


async def test_a_marked_run_gets_its_deliveries_at_the_next_start(storage: MongoStorage) -> None:
    """The mark set with the status and left (a stop before the insert) is completed by `recover_deliveries`."""
    run = await storage.create_run("p", "build", {}, RunSource())
    # The first step alone, as a master stopped right after it would leave it.
    await storage._db.runs.update_one({"_id": run.id}, {"$set": {"status": RunStatus.failed.value, OUTBOX: True}})
    assert await storage.list_pending_deliveries() == []
    assert await storage.recover_deliveries(NOTIFY) == 1
    (delivery,) = await storage.list_pending_deliveries()
    assert delivery.id == f"{run.id}.00" and delivery.event == "run.finished"
    assert await storage._db.runs.count_documents({OUTBOX: True}) == 0
    assert await storage.recover_deliveries(NOTIFY) == 0


async def test_a_completed_write_leaves_no_mark_and_a_replay_no_duplicate(storage: MongoStorage) -> None:
    """Both steps done: no mark left; storing the same deliveries again changes nothing."""
    run = await storage.create_run("p", "build", {}, RunSource())
    write = RunWrite(run.id, None, RunStatus.cancelled, (RunStatus.pending,), NOTIFY)
    (ended,) = await storage.write_runs([write])
    assert ended is not None
    assert await storage._db.runs.count_documents({OUTBOX: True}) == 0
    await storage._db.runs.update_one({"_id": run.id}, {"$set": {OUTBOX: True}})
    assert await storage.recover_deliveries(NOTIFY) == 1
    assert [d.id for d in await storage.list_pending_deliveries()] == [f"{run.id}.00"]
