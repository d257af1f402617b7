"""Reliability with real processes: SIGKILL the worker or the master mid-run, restart it."""

from __future__ import annotations

from pathlib import Path

from podium_model import RunSource, RunStatus
from podium_storage import LogStore, Storage
from tests.master.conftest import start_master
from tests.stack import Stack
from tests.support import wait_until
from tests.worker.conftest import trigger, wait_run


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


async def test_worker_killed_mid_run_recovers_byte_identical_log(
    stack: Stack, storage: Storage, tmp_path: Path
) -> None:
    """SIGKILL the worker mid-run and restart it: the run succeeds and its log is byte-identical."""
    copy, gate = tmp_path / "copy.txt", tmp_path / "gate"
    stack.start_worker("w1")
    run = await trigger(stack, storage, "stream", copy=str(copy), gate=str(gate))
    wait_until(lambda: _lines(copy) >= 200, 60, "first half written")
    stack.workers["w1"].kill()
    gate.touch()
    wait_until(lambda: _lines(copy) >= 400, 60, "second half written while the worker is down")
    stack.start_worker("w1")
    done = await wait_run(stack, storage, run.id)
    assert done.status == RunStatus.succeeded, done
    assert LogStore(stack.log_dir).read("demo", run.id) == copy.read_bytes()


async def test_master_killed_mid_run_recovers_byte_identical_log(
    stack: Stack, storage: Storage, tmp_path: Path
) -> None:
    """SIGKILL the master mid-run and restart it: the run succeeds, its log is byte-identical, and a
    run triggered while the master was down runs too."""
    copy, gate = tmp_path / "copy.txt", tmp_path / "gate"
    stack.start_worker("w1")
    run = await trigger(stack, storage, "stream", copy=str(copy), gate=str(gate))
    wait_until(lambda: _lines(copy) >= 200, 60, "first half written")
    assert stack.master is not None
    stack.master.kill()
    gate.touch()
    meanwhile = await storage.create_run("demo", "hello", {}, RunSource(type="api"))
    start_master(stack)
    done = await wait_run(stack, storage, run.id)
    assert done.status == RunStatus.succeeded, done
    assert LogStore(stack.log_dir).read("demo", run.id) == copy.read_bytes()
    assert (await wait_run(stack, storage, meanwhile.id)).status == RunStatus.succeeded
