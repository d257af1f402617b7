"""A full log disk degrades the master, it does not crash it: the log waits on the worker, then completes.

The master's log directory is a small tmpfs (mounting one needs root: the test is skipped
without it). A run writes half its log, the disk is filled, the run writes the other half and
ends on the worker; the master holds the first half, says it is degraded and keeps the
connection. Once space is freed, the run's log completes byte-identical and the run succeeds.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from podium_model import Run, RunStatus
from tests.databases import fresh_database
from tests.master.conftest import start_master
from tests.operations.helpers import create_run, get_run, start_worker, wait_final
from tests.stack import Stack, admin
from tests.support import Service, free_port, wait_until

HALF = 64 * 1024
CONFIG = f"""
projects:
  - id: ops
    jobs:
      - id: halves
        parameters:
          - {{key: gate}}
        definition:
          type: job
          commands:
            - - sh
              - -c
              - >-
                head -c {HALF} /dev/zero | tr '\\0' a; echo; read go < "$1";
                head -c {HALF} /dev/zero | tr '\\0' b; echo
              - _
              - "{{parameters.gate}}"
      - id: hello
        definition: {{type: job, commands: [["echo", "hello"]]}}
"""
EXPECTED = b"a" * HALF + b"\n" + b"b" * HALF + b"\n"


@contextlib.contextmanager
def _tmpfs(directory: Path, size: str) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)], check=False)
    if mounted.returncode != 0:
        pytest.skip("mounting a tmpfs needs root (mount -t tmpfs)")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


def _fill(path: Path) -> None:
    """Write `path` until the disk refuses another byte."""
    block = b"x" * 4096
    with path.open("wb", buffering=0) as file:
        while True:
            try:
                file.write(block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                return


def _master_health(stack: Stack) -> dict[str, object]:
    answer: dict[str, object] = httpx.get(f"{stack.master_url}/health", timeout=10).json()
    return answer


@contextlib.contextmanager
def _halves_stack(tmp_path: Path, small: str, size: str) -> Iterator[tuple[Stack, Service, Service, Run, Path, int]]:
    """A master and a worker whose `small` directory is a tmpfs of `size`, and a `halves` run held at its gate.

    Yields the stack, the master, the worker, the run, the gate (a FIFO: writing it lets the
    second half come) and the worker's health port.
    """
    config = tmp_path / "podium.yaml"
    config.write_text(CONFIG)
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    with fresh_database("sqlite", tmp_path) as url:
        stack = Stack(tmp_path, url)
        stack.prepare()
        admin(url, "apply", str(config))
        with _tmpfs(tmp_path / small, size):
            try:
                master = start_master(stack)
                health_port = free_port()
                worker = start_worker(stack, "w1", "--health-port", str(health_port))
                run = create_run(stack, "halves", gate=str(gate))
                log = stack.log_dir / "ops" / f"{run.id}.log"
                wait_until(lambda: log.exists() and log.stat().st_size == HALF + 1, 60, "the first half")
                yield stack, master, worker, run, gate, health_port
            finally:
                stack.stop()


def _worker_health(port: int) -> dict[str, object]:
    answer: dict[str, object] = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).json()
    return answer


def test_a_full_log_disk_pauses_the_log_and_resumes_when_space_returns(tmp_path: Path) -> None:
    """No reconnection, one log line per state change, /health degraded; space freed → the log completes."""
    with _halves_stack(tmp_path, "logs", "1m") as (stack, master, worker, run, gate, health_port):
        log = stack.log_dir / "ops" / f"{run.id}.log"
        filler = stack.log_dir / "filler"
        _fill(filler)
        gate.write_text("go\n")  # blocks until the command reads it: the second half follows
        wait_until(lambda: not _worker_health(health_port)["running"], 60, "the run to end on the worker")
        wait_until(lambda: _master_health(stack)["status"] == "degraded", 30, "the master degraded")
        assert _master_health(stack)["log_disk"] == "full"
        assert log.stat().st_size == HALF + 1  # nothing of the second half, nothing torn
        assert get_run(stack, run.id).status == RunStatus.running

        filler.unlink()
        final = wait_final(stack, run.id, timeout=60)
        assert final.status == RunStatus.succeeded, stack.outputs()
        assert log.read_bytes() == EXPECTED
        assert _master_health(stack)["status"] == "ok"
        assert master.output.count("log store full") == 1, master.output
        assert master.output.count("log store takes bytes again") == 1, master.output
        assert worker.output.count("connected to ") == 1, worker.output  # no reconnect loop
        metrics = httpx.get(f"{stack.master_url}/metrics", timeout=10).text
        assert "podium_master_log_disk_full 0.0" in metrics
        assert "podium_master_log_chunks_refused_total 0.0" not in metrics


def test_a_full_worker_disk_pauses_the_run_and_resumes_when_space_returns(tmp_path: Path) -> None:
    """The worker's own disk fills mid-run: its log waits (the command's output is not read), the
    worker says degraded, logs once per change and stays connected; space freed → the run completes."""
    with _halves_stack(tmp_path, "worker-w1", "4m") as (stack, master, worker, run, gate, health_port):
        log = stack.log_dir / "ops" / f"{run.id}.log"
        filler = tmp_path / "worker-w1" / "filler"
        _fill(filler)
        gate.write_text("go\n")  # the second half meets the full disk
        wait_until(lambda: _worker_health(health_port)["status"] == "degraded", 30, "the worker degraded")
        assert _worker_health(health_port)["disk"] == "full"
        assert get_run(stack, run.id).status == RunStatus.running
        assert log.stat().st_size < len(EXPECTED)  # what fitted in the disk's last page went on
        # A run sent meanwhile is refused (`disk-full`) and waits: not counted as a poison bounce.
        later = create_run(stack, "hello")
        wait_until(lambda: master.output.count("(not counted: the worker's state") >= 5, 60, "five refusals")
        assert get_run(stack, later.id).status == RunStatus.pending  # past the bounce limit, still waiting

        filler.unlink()
        final = wait_final(stack, run.id, timeout=60)
        assert final.status == RunStatus.succeeded, stack.outputs()
        assert log.read_bytes() == EXPECTED
        assert wait_final(stack, later.id, timeout=60).status == RunStatus.succeeded, stack.outputs()
        wait_until(lambda: _worker_health(health_port)["status"] == "ok", 30, "the worker ok again")
        assert worker.output.count("full (") == 1, worker.output
        assert worker.output.count("has space again") == 1, worker.output
        assert worker.output.count("connected to ") == 1, worker.output
