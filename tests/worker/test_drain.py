"""`podium-worker --drain` as real processes: SIGTERM finishes the running runs before the worker exits."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.server import serve

from podium_model import Run, RunStatus
from podium_model.messages import (
    Clean,
    Execute,
    Heartbeat,
    Response,
    StatusUpdate,
)
from podium_storage import DirectoryLogStore, Storage
from tests.databases import sqlite_url
from tests.operations.helpers import start_worker
from tests.stack import Stack
from tests.support import Service, free_port, wait_until
from tests.worker.conftest import control, trigger, wait_run
from tests.worker.fake_master import FakeMaster, request


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """SQLite only: draining is the worker's and the master's business, the same on every database."""
    yield sqlite_url(tmp_path)


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def metric(stack: Stack, name: str, **labels: str) -> float | None:
    """One sample of the master's `/metrics`, or None when absent."""
    text = httpx.get(f"{stack.master_url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


def exited(service: Service, timeout: float = 60.0) -> int:
    """Wait for the process to end on its own; return its exit code."""
    wait_until(lambda: not service.alive(), timeout, f"{service.name} to exit")
    assert service.process is not None
    return service.process.returncode


async def waiting(storage: Storage, run_id: str, timeout: float = 30.0) -> Run:
    """Wait until the dispatcher looked at the pending run and said why it waits."""
    deadline = time.monotonic() + timeout
    while True:
        run = await storage.get_run(run_id)
        if run is not None and run.waiting_reason is not None:
            return run
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} was never considered by the dispatcher: {run}")
        await asyncio.sleep(0.02)


async def test_drain_finishes_the_running_run_then_exits(stack: Stack, storage: Storage, tmp_path: Path) -> None:
    """SIGTERM with --drain: no new run goes to the worker, the running run ends succeeded with its
    whole log, then the worker exits 0; the run created meanwhile runs on another worker."""
    copy, gate = tmp_path / "copy.txt", tmp_path / "gate"
    port = free_port()
    worker = start_worker(stack, "w1", "--drain", "--heartbeat-interval", "0.5", "--health-port", str(port))
    run = await trigger(stack, storage, "stream", copy=str(copy), gate=str(gate))
    wait_until(lambda: _lines(copy) >= 200, 60, "first half written")
    assert worker.process is not None
    worker.process.send_signal(signal.SIGTERM)

    wait_until(lambda: metric(stack, "podium_master_workers_draining") == 1, 30, "the master to see the drain")
    health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
    assert health.status_code == 200 and health.json()["status"] == "draining", health.text
    assert health.json()["running"] == 1
    meanwhile = await trigger(stack, storage, "hello")
    considered = await waiting(storage, meanwhile.id)
    assert considered.status == RunStatus.pending and considered.worker is None, considered
    assert considered.waiting_reason == "every matching worker is draining", considered
    assert worker.alive(), worker.output

    gate.touch()
    assert exited(worker) == 0, worker.output
    done = await wait_run(stack, storage, run.id)
    assert done.status == RunStatus.succeeded, done
    assert await DirectoryLogStore(stack.log_dir).read("demo", run.id) == copy.read_bytes()
    assert _lines(copy) == 400
    assert "draining: taking no new run" in worker.output
    assert "drained: the master holds every run" in worker.output
    assert not (stack.directory / "worker-w1" / "runs" / run.id).exists()  # cleaned: the master had it all

    assert (await storage.get_run(meanwhile.id)).status == RunStatus.pending  # type: ignore[union-attr]
    stack.start_worker("w2")
    moved = await wait_run(stack, storage, meanwhile.id)
    assert moved.status == RunStatus.succeeded and moved.worker == "w2", moved


async def test_drain_without_runs_exits_at_once(stack: Stack, storage: Storage) -> None:
    """An idle draining worker stops on SIGTERM with exit code 0."""
    worker = start_worker(stack, "idle", "--drain")
    wait_until(lambda: metric(stack, "podium_master_workers_active") == 1, 60, "worker active")
    assert worker.process is not None
    worker.process.send_signal(signal.SIGTERM)
    assert exited(worker) == 0, worker.output
    assert "drained:" in worker.output


async def test_second_signal_stops_at_once_and_leaves_the_executor(stack: Stack, storage: Storage) -> None:
    """A second SIGTERM during a drain stops the worker at once; its run keeps executing and a
    restarted worker takes it up again (here to abort it)."""
    worker = start_worker(stack, "w1", "--drain")
    run = await trigger(stack, storage, "slow")
    await wait_run(stack, storage, run.id, {"running"})
    assert worker.process is not None
    worker.process.send_signal(signal.SIGTERM)
    wait_until(lambda: "draining: taking no new run" in worker.output, 30, "the drain to start")
    worker.process.send_signal(signal.SIGTERM)
    assert exited(worker, 30) == 0, worker.output
    assert "second signal while draining" in worker.output
    assert (await storage.get_run(run.id)).status == RunStatus.running  # type: ignore[union-attr]

    start_worker(stack, "w1")
    # The draining connection was never `ready`: an active worker is the new one, which adopted the run.
    wait_until(lambda: metric(stack, "podium_master_workers_active") == 1, 60, "the restarted worker ready")
    assert (await control(stack, f"/control/runs/{run.id}/abort"))["result"] == "sent"
    done = await wait_run(stack, storage, run.id, timeout=60)
    assert done.status == RunStatus.aborted, done


async def test_execute_reaching_a_draining_worker_is_refused(tmp_path: Path) -> None:
    """Protocol level, against a fake master: once draining, the worker says so in a heartbeat and
    refuses `execute` with the protocol error `draining`; it exits 0 once its run is cleaned."""
    fake = FakeMaster()
    gate = tmp_path / "gate"
    async with serve(fake.handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        argv = [
            "podium-worker", "--master", f"ws://127.0.0.1:{port}/ws/worker", "--id", "w1", "--token", "t",
            "--drain", "--executor-limit", "2", "--home", str(tmp_path / "home"),
        ]  # fmt: skip
        worker = Service("worker", argv, output_dir=tmp_path).start()
        try:
            first = await fake.next_message(Heartbeat, 60)  # sent as soon as the connection opens
            assert first.draining is False and first.executor_limit == 2 and first.disk_free_bytes, first
            await fake.send(Execute(id=1, run=request("r1", f"echo one; while [ ! -e {gate} ]; do sleep 0.05; done")))
            started = await fake.next_message(Response)
            assert started.ok and started.result == {"run_id": "r1", "started": True}, started

            assert worker.process is not None
            worker.process.send_signal(signal.SIGTERM)
            draining = await fake.next_message(Heartbeat)
            assert draining.draining is True and draining.running == ["r1"], draining
            await fake.send(Execute(id=2, run=request("r2", "echo two")))
            refused = await fake.next_message(Response)
            assert refused.id == 2 and not refused.ok and refused.error is not None, refused
            assert refused.error.code == "draining", refused

            gate.touch()
            final = await fake.next_message(StatusUpdate)
            while not final.state.status.is_final:
                final = await fake.next_message(StatusUpdate)
            assert final.state.status == RunStatus.succeeded, final
            assert worker.alive(), "the worker waits until the master cleaned the run"
            await fake.send(Clean(id=3, run_id="r1"))
            await asyncio.to_thread(wait_until, lambda: not worker.alive(), 30, "the worker to exit")
            assert worker.process.returncode == 0, worker.output
            assert not (tmp_path / "home" / "runs" / "r2").exists()
        finally:
            worker.kill()
