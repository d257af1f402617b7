"""Retries in storage, on every backend: the follow-up attempt is created with the final status, once."""

from __future__ import annotations

from datetime import timedelta

from podium_model import RunFilter, RunSource, RunStatus, RunUpdate, utcnow
from podium_model.retries import RetryPolicy
from podium_storage.interface import RunWrite, Storage

USER = RunSource(type="api", user="ann")
RUNNING = [RunStatus.running]


async def _claimed(storage: Storage, policy: RetryPolicy | None) -> str:
    """A new run of `p/build`, taken by worker w1 under `policy` (as the dispatcher claims it)."""
    run = await storage.create_run("p", "build", {"x": "1"}, USER)
    changes = RunUpdate(worker="w1") if policy is None else RunUpdate(worker="w1", retry=policy)
    moved = await storage.transition_run(run.id, [RunStatus.pending], RunStatus.running, changes)
    assert moved is not None and moved.retry == policy and moved.attempt == 1
    return run.id


async def test_a_failed_attempt_is_followed_once(storage: Storage) -> None:
    """A failure its policy names creates attempt 2 with the parameters, its delay and the links; a replay does not."""
    policy = RetryPolicy(attempts=3, delay=30, backoff=2)
    run_id = await _claimed(storage, policy)
    ended = await storage.transition_run(
        run_id, RUNNING, RunStatus.failed, RunUpdate(reason="exit 1", completed_at=utcnow())
    )
    assert ended is not None and ended.status is RunStatus.failed and ended.retried_by is not None
    assert await storage.transition_run(run_id, RUNNING, RunStatus.failed) is None  # a replayed status
    follow = await storage.get_run(ended.retried_by)
    assert follow is not None and follow.status is RunStatus.pending
    assert follow.source == RunSource(type="retry", run=run_id, user="ann")
    assert follow.attempt == 2 and follow.parameters == {"x": "1"} and follow.retry is None
    assert ended.completed_at is not None and follow.not_before is not None
    assert abs((follow.not_before - ended.completed_at) - timedelta(seconds=30)) < timedelta(milliseconds=2)
    assert [run.id for run in await storage.list_pending_runs()] == [follow.id]
    retries = await storage.list_runs(RunFilter(project="p", source="retry"))
    assert [run.id for run in retries.items] == [follow.id]
    assert await storage.resume_retries() == 0

    # Attempt 2 fails too: attempt 3 waits delay * backoff.
    moved = await storage.transition_run(
        follow.id, [RunStatus.pending], RunStatus.running, RunUpdate(worker="w1", retry=policy)
    )
    assert moved is not None
    second = await storage.transition_run(follow.id, RUNNING, RunStatus.exception, RunUpdate(completed_at=utcnow()))
    assert second is not None and second.retried_by is not None
    third = await storage.get_run(second.retried_by)
    assert third is not None and third.attempt == 3 and third.source.run == follow.id
    assert second.completed_at is not None and third.not_before is not None
    assert abs((third.not_before - second.completed_at) - timedelta(seconds=60)) < timedelta(milliseconds=2)

    # The last attempt is never followed.
    await storage.transition_run(third.id, [RunStatus.pending], RunStatus.running, RunUpdate(retry=policy))
    last = await storage.transition_run(third.id, RUNNING, RunStatus.failed)
    assert last is not None and last.retried_by is None
    assert len((await storage.list_runs(RunFilter(project="p"))).items) == 3


async def test_only_the_statuses_named_are_retried(storage: Storage) -> None:
    """Success, abort, and a status the policy leaves out end the run alone; no policy: no retry."""
    only_failed = RetryPolicy(attempts=2, on=["failed"])
    for policy, status in (
        (only_failed, RunStatus.succeeded),
        (only_failed, RunStatus.aborted),
        (only_failed, RunStatus.exception),
        (None, RunStatus.failed),
    ):
        run_id = await _claimed(storage, policy)
        ended = await storage.transition_run(run_id, RUNNING, status)
        assert ended is not None and ended.retried_by is None
    assert (await storage.list_pending_runs()) == []


async def test_without_delay_the_retry_is_due_at_once(storage: Storage) -> None:
    """No delay: the follow-up has no not-before time and no waiting reason."""
    run_id = await _claimed(storage, RetryPolicy(attempts=2))
    ended = await storage.transition_run(run_id, RUNNING, RunStatus.exception)
    assert ended is not None and ended.retried_by is not None
    follow = await storage.get_run(ended.retried_by)
    assert follow is not None and follow.not_before is None and follow.waiting_reason is None


async def test_a_batch_of_writes_retries_each_run_once(storage: Storage) -> None:
    """`write_runs` with several final statuses (the master's group commit) follows each retried run once."""
    policy = RetryPolicy(attempts=2)
    ids = [await _claimed(storage, policy if i % 2 == 0 else None) for i in range(4)]
    writes = [RunWrite(run_id, RunUpdate(reason="exit 1"), RunStatus.failed, tuple(RUNNING)) for run_id in ids]
    ended = await storage.write_runs([*writes, writes[0]])
    assert ended[4] is None
    followed = [run.retried_by for run in ended[:4] if run is not None and run.retried_by is not None]
    assert len(followed) == 2
    pending = await storage.list_pending_runs()
    assert sorted(run.id for run in pending) == sorted(followed)
    assert {run.source.run for run in pending} == {ids[0], ids[2]}


async def test_a_retry_keeps_the_secret_keys_and_the_webhook_payload(storage: Storage) -> None:
    """The follow-up of a webhook run with a secret parameter holds the same secret keys and a copy of the body."""
    run = await storage.create_run(
        "p", "build", {"token": "s3cret-value", "x": "1"}, RunSource(type="webhook"), None, ["token"]
    )
    await storage.put_run_payload(run.id, '{"ref": "main"}')
    await storage.transition_run(
        run.id, [RunStatus.pending], RunStatus.running, RunUpdate(retry=RetryPolicy(attempts=2))
    )
    ended = await storage.transition_run(run.id, RUNNING, RunStatus.failed, RunUpdate(completed_at=utcnow()))
    assert ended is not None and ended.retried_by is not None
    follow = await storage.get_run(ended.retried_by)
    assert follow is not None and follow.secret_parameters == ["token"]
    assert follow.parameters == {"token": "s3cret-value", "x": "1"}
    assert await storage.get_run_payload(follow.id) == '{"ref": "main"}'
