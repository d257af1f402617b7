"""A running run's steps reach storage while it runs: with its log chunks, or its worker's heartbeats."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from podium_model import Run, RunStatus
from podium_storage import Storage
from tests.stack import Stack
from tests.support import wait_until
from tests.worker.conftest import trigger, wait_run


async def _steps_while_running(stack: Stack, storage: Storage, run_id: str, count: int) -> Run:
    """Wait (condition with deadline) until storage shows `count` steps of the run, the last still running."""
    deadline = time.monotonic() + 30.0
    pause = 0.002
    while True:
        run = await storage.get_run(run_id)
        steps = run.steps if run is not None else None
        if run is not None and steps and len(steps) == count and steps[-1].exit_code is None:
            return run
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} never showed {count} steps while running: {run}\n{stack.outputs()}")
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.05)


async def test_steps_of_a_command_that_prints_come_with_its_log(stack: Stack, storage: Storage, tmp_path: Path) -> None:
    """A command that printed and still runs shows as a running step, the one before it ended."""
    gate = tmp_path / "gate"
    stack.start_worker("w1")
    run = await trigger(stack, storage, "chatty", gate=str(gate))
    running = await _steps_while_running(stack, storage, run.id, 2)
    assert running.status == RunStatus.running
    first, second = running.steps or []
    assert (first.exit_code, first.log_offset, first.completed_at is not None) == (0, 0, True)
    assert (second.index, second.log_offset, second.completed_at) == (2, len(b"one\n"), None)
    gate.touch()
    done = await wait_run(stack, storage, run.id)
    assert [(s.index, s.exit_code) for s in done.steps or []] == [(1, 0), (2, 0)]


async def test_steps_of_a_silent_command_come_with_a_heartbeat(stack: Stack, storage: Storage, tmp_path: Path) -> None:
    """A command that prints nothing still shows as started (a heartbeat brings it) while it runs."""
    copy, gate = tmp_path / "copy.txt", tmp_path / "gate"
    stack.start_worker("w1")
    run = await trigger(stack, storage, "stream", copy=str(copy), gate=str(gate))
    wait_until(lambda: copy.exists() and copy.read_bytes().count(b"\n") >= 200, 60, "first half written")
    running = await _steps_while_running(stack, storage, run.id, 2)
    assert [(s.index, s.exit_code) for s in running.steps or []] == [(1, 0), (2, None)]
    gate.touch()
    done = await wait_run(stack, storage, run.id)
    assert [(s.index, s.exit_code) for s in done.steps or []] == [(1, 0), (2, 0), (3, 0)]
