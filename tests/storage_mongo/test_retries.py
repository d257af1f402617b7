"""MongoDB retries: a follow-up recorded on its ended run but not inserted (a stop in between) is created once."""

from __future__ import annotations

from podium_model import RunSource, RunStatus, RunUpdate, utcnow
from podium_model.retries import RetryPolicy
from podium_storage.mongo import MongoStorage


async def test_a_recorded_retry_is_resumed_once(storage: MongoStorage) -> None:
    """The state a stop between the two writes leaves: `resume_retries` inserts the follow-up under its recorded id."""
    run = await storage.create_run("p", "build", {"x": "1"}, RunSource(user="ann"))
    policy = RetryPolicy(attempts=2, delay=5)
    await storage.transition_run(run.id, [RunStatus.pending], RunStatus.running, RunUpdate(retry=policy))
    ended = await storage.transition_run(
        run.id, [RunStatus.running], RunStatus.failed, RunUpdate(completed_at=utcnow())
    )
    assert ended is not None and ended.retried_by is not None
    stored = await storage._db.runs.find_one({"_id": run.id})
    assert stored is not None and "retry_pending" not in stored  # cleared once the follow-up was inserted

    # As if the master stopped after the final status, before inserting the follow-up.
    await storage._db.runs.delete_one({"_id": ended.retried_by})
    await storage._db.runs.update_one({"_id": run.id}, {"$set": {"retry_pending": True}})
    assert await storage.resume_retries() == 1
    assert await storage.resume_retries() == 0
    follow = await storage.get_run(ended.retried_by)
    assert follow is not None and follow.status is RunStatus.pending and follow.attempt == 2
    assert follow.source == RunSource(type="retry", run=run.id, user="ann") and follow.parameters == {"x": "1"}
    assert ended.completed_at is not None and follow.not_before is not None
    assert abs((follow.not_before - ended.completed_at).total_seconds() - 5) < 0.002

    # Inserted already but the flag left (a stop just before it was cleared): still one follow-up.
    await storage._db.runs.update_one({"_id": run.id}, {"$set": {"retry_pending": True}})
    assert await storage.resume_retries() == 1
    assert [pending.id for pending in await storage.list_pending_runs()] == [follow.id]
