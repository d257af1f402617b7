"""Poison runs end, they do not bounce: a refused or oversized `execute` never wedges a worker."""

from __future__ import annotations

from pathlib import Path

from podium_model import RunStatus
from podium_model.limits import EXECUTE_MESSAGE_BYTES
from tests.databases import fresh_database
from tests.master.conftest import start_master
from tests.operations.helpers import configured_stack, create_run, start_worker, wait_final


def test_a_run_every_attempt_refuses_ends_exception_while_another_succeeds(tmp_path: Path) -> None:
    """The worker refuses one run each time (it cannot create its directory): it ends after its
    bounded retries, and a run triggered after it succeeds on the same one-slot worker meanwhile."""
    with fresh_database("sqlite", tmp_path) as url:
        stack = configured_stack(tmp_path, url)
        try:
            start_master(stack)
            poison = create_run(stack, "hello")
            # A file where the run's directory goes: every `execute` of it fails to start.
            runs = tmp_path / "worker-w1" / "runs"
            runs.mkdir(parents=True)
            (runs / poison.id).write_text("in the way")
            worker = start_worker(stack, "w1", "--executor-limit", "1")
            innocent = create_run(stack, "hello")

            done = wait_final(stack, innocent.id)
            ended = wait_final(stack, poison.id)
            assert done.status == RunStatus.succeeded, stack.outputs()
            assert ended.status == RunStatus.exception, ended
            assert ended.reason is not None and "bounced 5 times" in ended.reason, ended.reason
            assert "refused it" in ended.reason and "could not start the executor" in ended.reason
            assert done.completed_at is not None and ended.completed_at is not None
            assert done.completed_at < ended.completed_at  # it did not wait for the poison run's end
            assert worker.output.count("connected to ") == 1, worker.output  # the worker never dropped
            assert create_run(stack, "hello") and worker.alive()
        finally:
            stack.stop()


def test_an_execute_larger_than_a_worker_accepts_is_never_sent(tmp_path: Path) -> None:
    """A run whose `execute` would exceed the worker's frame limit ends exception at once; the worker stays."""
    with fresh_database("sqlite", tmp_path) as url:
        stack = configured_stack(tmp_path, url)
        try:
            start_master(stack)
            worker = start_worker(stack, "w1", "--executor-limit", "1")
            # Stored directly: the api refuses such a parameter long before (its own limits).
            huge = create_run(stack, "hello", big="x" * (EXECUTE_MESSAGE_BYTES + 1))
            after = create_run(stack, "hello")
            ended = wait_final(stack, huge.id)
            assert ended.status == RunStatus.exception, ended
            assert ended.reason is not None and f"over the {EXECUTE_MESSAGE_BYTES} bytes" in ended.reason
            assert wait_final(stack, after.id).status == RunStatus.succeeded, stack.outputs()
            assert worker.output.count("connected to ") == 1, worker.output
        finally:
            stack.stop()
