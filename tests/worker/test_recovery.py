"""Reliability with real processes: SIGKILL the worker or the master mid-run, restart it."""

from __future__ import annotations

from pathlib import Path

import httpx

from podium_model import Run, RunSource, RunStatus
from podium_storage import DirectoryLogStore, Storage
from tests.master.conftest import start_master
from tests.stack import Stack
from tests.support import wait_until
from tests.worker.conftest import trigger, wait_run


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


async def _stream_half_written(stack: Stack, storage: Storage, tmp_path: Path) -> tuple[Run, Path, Path]:
    """A `stream` run on worker w1 that wrote its first half and waits for its gate: (run, copy, gate)."""
    copy, gate = tmp_path / "copy.txt", tmp_path / "gate"
    stack.start_worker("w1")
    run = await trigger(stack, storage, "stream", copy=str(copy), gate=str(gate))
    wait_until(lambda: _lines(copy) >= 200, 60, "first half written")
    return run, copy, gate


def _alive(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def test_worker_killed_mid_run_recovers_byte_identical_log(
    stack: Stack, storage: Storage, tmp_path: Path
) -> None:
    """SIGKILL the worker mid-run and restart it: the run succeeds and its log is byte-identical."""
    run, copy, gate = await _stream_half_written(stack, storage, tmp_path)
    stack.workers["w1"].kill()
    gate.touch()
    wait_until(lambda: _lines(copy) >= 400, 60, "second half written while the worker is down")
    stack.start_worker("w1")
    done = await wait_run(stack, storage, run.id)
    assert done.status == RunStatus.succeeded, done
    log = await DirectoryLogStore(stack.log_dir).read("demo", run.id)
    assert log == copy.read_bytes()
    # Every step survives the kill: recorded by the executor on disk, re-sent by the new worker.
    steps = done.steps or []
    assert [(step.index, step.exit_code) for step in steps] == [(1, 0), (2, 0), (3, 0)], steps
    half = log.index(b"more 1\n")
    assert [step.log_offset for step in steps] == [0, half, half]
    assert all(step.completed_at is not None and step.completed_at >= step.started_at for step in steps)
    assert steps[1].argv[:2] == ["sh", "-c"] and str(gate) in steps[1].argv[2]


async def test_master_killed_mid_run_recovers_byte_identical_log(
    stack: Stack, storage: Storage, tmp_path: Path
) -> None:
    """SIGKILL the master mid-run and restart it: the run succeeds, its log is byte-identical, and a
    run triggered while the master was down runs too."""
    run, copy, gate = await _stream_half_written(stack, storage, tmp_path)
    assert stack.master is not None
    stack.master.kill()
    gate.touch()
    meanwhile = await storage.create_run("demo", "hello", {}, RunSource(type="api"))
    start_master(stack)
    done = await wait_run(stack, storage, run.id)
    assert done.status == RunStatus.succeeded, done
    assert await DirectoryLogStore(stack.log_dir).read("demo", run.id) == copy.read_bytes()
    assert (await wait_run(stack, storage, meanwhile.id)).status == RunStatus.succeeded


async def test_a_worker_away_too_long_loses_its_run_and_stops_it_when_back(
    stack: Stack, storage: Storage, tmp_path: Path
) -> None:
    """A worker away longer than `--worker-lost-timeout`: its run ends `exception`. Back later with
    the run still going, it is told to abort it; the log keeps every byte and the run is cleaned."""
    assert stack.master is not None
    stack.master.stop()
    start_master(stack, "--worker-lost-timeout", "1")
    run, copy, _ = await _stream_half_written(stack, storage, tmp_path)  # its gate never opens: aborted
    stack.workers["w1"].kill()

    lost = await wait_run(stack, storage, run.id, {"exception"})
    assert lost.reason == "worker w1 lost: away for more than 1 s", lost
    assert lost.completed_at is not None
    metrics = f"{stack.master_url}/metrics"
    wait_until(lambda: "podium_master_runs_lost_total 1.0" in httpx.get(metrics).text, 10, "the lost run counted")

    directory = stack.directory / "worker-w1" / "runs" / run.id
    executor = int((directory / "executor.pid").read_text())
    assert _alive(executor)  # it outlived its worker
    stack.start_worker("w1")
    wait_until(lambda: not directory.exists(), 60, "the lost run stopped and cleaned on the worker")
    wait_until(lambda: not _alive(executor), 20, "the executor gone")
    after = await storage.get_run(run.id)
    assert after is not None and after.status == RunStatus.exception and after.reason == lost.reason
    assert await DirectoryLogStore(stack.log_dir).read("demo", run.id) == copy.read_bytes()


async def test_runs_of_a_worker_away_when_the_master_starts_end_after_the_timeout(
    stack: Stack, storage: Storage, tmp_path: Path
) -> None:
    """A worker away when the master starts, and that never connects: its runs end `exception`."""
    run, copy, gate = await _stream_half_written(stack, storage, tmp_path)
    stack.workers["w1"].kill()
    assert stack.master is not None
    stack.master.stop()
    try:
        start_master(stack, "--worker-lost-timeout", "1")
        lost = await wait_run(stack, storage, run.id, {"exception"})
        assert lost.reason == "worker w1 lost: away for more than 1 s", lost
    finally:
        gate.touch()  # the executor, left alone, finishes
