"""Master, worker and executor as real processes: dispatch, results, waiting, cancel and abort."""

from __future__ import annotations

from podium_model import RunStatus
from podium_storage import DirectoryLogStore, Storage
from tests.stack import Stack
from tests.worker.conftest import control, trigger, wait_run


async def test_run_succeeds_with_log_and_results(stack: Stack, storage: Storage) -> None:
    """A pending run is dispatched, executed and ends succeeded with its exact log and results."""
    stack.start_worker("w1")
    run = await trigger(stack, storage, "hello", name="podium")
    done = await wait_run(stack, storage, run.id)
    assert done.status == RunStatus.succeeded, done
    assert done.worker == "w1" and done.started_at and done.completed_at
    assert done.results == {"greeted": True}
    assert await DirectoryLogStore(stack.log_dir).read("demo", run.id) == b"hello podium\n"


async def test_failing_command_ends_failed(stack: Stack, storage: Storage) -> None:
    """A command exiting non-zero ends the run failed, with its output in the log."""
    stack.start_worker("w1")
    run = await trigger(stack, storage, "fail")
    done = await wait_run(stack, storage, run.id)
    assert done.status == RunStatus.failed, done
    assert await DirectoryLogStore(stack.log_dir).read("demo", run.id) == b"oops\n"


async def test_unmatched_properties_wait_then_run(stack: Stack, storage: Storage) -> None:
    """A job no worker matches waits with a reason, then runs when a matching worker connects."""
    run = await trigger(stack, storage, "plan9")
    await wait_run(stack, storage, run.id, {"pending"}, waiting_reason="no worker connected")
    stack.start_worker("linux")
    await wait_run(
        stack, storage, run.id, {"pending"}, waiting_reason="no connected worker has the properties os=plan9"
    )
    stack.start_worker("p9", 1, "os=plan9")
    done = await wait_run(stack, storage, run.id)
    assert done.status == RunStatus.succeeded and done.worker == "p9", done
    assert done.waiting_reason is None


async def test_a_job_with_an_image_waits_for_a_worker_running_containers(stack: Stack, storage: Storage) -> None:
    """Only a worker without --containers is connected: a job with an image waits, saying why; others run."""
    stack.start_worker("w1")
    run = await trigger(stack, storage, "boxed")
    reason = "the job runs in a container of podium-test/busybox:1 and no connected worker runs containers"
    await wait_run(stack, storage, run.id, {"pending"}, waiting_reason=f"{reason} (podium-worker --containers)")
    done = await wait_run(stack, storage, (await trigger(stack, storage, "hello")).id)
    assert done.status == RunStatus.succeeded, done  # the host job behind it is not held up
    assert (await storage.get_run(run.id)).status == RunStatus.pending  # type: ignore[union-attr]


async def test_run_behind_a_busy_worker_gets_the_busy_reason_then_runs(stack: Stack, storage: Storage) -> None:
    """A run queued behind a full worker is told so by the next sweep, and runs once a slot frees."""
    stack.start_worker("w1", 1)
    blocker = await trigger(stack, storage, "slow")
    await wait_run(stack, storage, blocker.id, {"running"})
    queued = await trigger(stack, storage, "hello")
    await wait_run(stack, storage, queued.id, {"pending"}, waiting_reason="every matching worker is busy")
    assert (await control(stack, f"/control/runs/{blocker.id}/abort"))["result"] == "sent"
    done = await wait_run(stack, storage, queued.id)
    assert done.status == RunStatus.succeeded and done.waiting_reason is None, done


async def test_cancel_pending_run(stack: Stack, storage: Storage) -> None:
    """Cancelling a pending run ends it cancelled; it never runs."""
    run = await trigger(stack, storage, "plan9")
    assert (await control(stack, f"/control/runs/{run.id}/cancel"))["result"] == "cancelled"
    done = await wait_run(stack, storage, run.id)
    assert done.status == RunStatus.cancelled


async def test_abort_running_run(stack: Stack, storage: Storage) -> None:
    """Aborting a running run stops its command and ends it aborted."""
    stack.start_worker("w1")
    run = await trigger(stack, storage, "slow")
    await wait_run(stack, storage, run.id, {"running"})
    assert (await control(stack, f"/control/runs/{run.id}/abort"))["result"] == "sent"
    done = await wait_run(stack, storage, run.id, timeout=30)
    assert done.status == RunStatus.aborted, done
