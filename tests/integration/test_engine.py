"""The execution engine's "done when" list, with real master, workers and executors."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from podium_model import Run, RunSource, RunStatus
from podium_storage import DirectoryLogStore, Storage, open_storage
from tests.conftest import DATABASES
from tests.databases import fresh_database
from tests.integration.proxy import CuttingProxy
from tests.master.conftest import start_master
from tests.stack import Stack, admin
from tests.support import Service, wait_until
from tests.worker.conftest import control, trigger, wait_run

CONFIG = """
projects:
  - id: demo
    jobs:
      - id: quick
        properties: {pool: main}
        definition: {type: job, commands: [["echo", "quick"]]}
      - id: literal
        parameters: [{key: a}, {key: b}, {key: c}]
        properties: {pool: main}
        definition:
          type: job
          commands: [["printf", "%s\\\\n", "{parameters.a}", "{parameters.b}", "{parameters.c}"]]
      - id: sleepy
        properties: {pool: main}
        definition: {type: job, commands: [["sleep", "60"]], timeout: 1}
      - id: big
        parameters: [{key: copy}]
        properties: {net: proxy}
        definition:
          type: job
          commands: [["sh", "-c", "head -c 20971520 /dev/urandom | tee {parameters.copy}"]]
      - id: gated
        parameters: [{key: gate}]
        properties: {pool: term}
        definition:
          type: job
          commands: [["sh", "-c", "while [ ! -e {parameters.gate} ]; do sleep 0.05; done; echo done"]]
"""
LIMIT = 2


@pytest.fixture(scope="module", params=DATABASES)
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A master and two `pool=main` workers (executor limit 2), shared by the module."""
    directory = tmp_path_factory.mktemp("engine")
    config = directory / "podium.yaml"
    config.write_text(CONFIG)
    with fresh_database(request.param, directory) as url:
        stack = Stack(directory, url)
        try:
            stack.prepare()
            admin(url, "apply", str(config))
            start_master(stack)
            for worker in ("w1", "w2"):
                stack.start_worker(worker, LIMIT, "pool=main")
            yield stack
        finally:
            stack.stop()


@pytest.fixture
async def storage(stack: Stack) -> AsyncIterator[Storage]:
    """The test's own connection to the stack's database."""
    async with open_storage(stack.database_url) as storage:
        yield storage


def _worker_argv(stack: Stack, worker_id: str, port: int, *properties: str) -> list[str]:
    argv = [
        "podium-worker",
        "--master", f"ws://127.0.0.1:{port}/ws/worker",
        "--id", worker_id,
        "--user", "workers",
        "--token", stack.worker_token,
        "--executor-limit", "1",
        "--home", str(stack.directory / f"worker-{worker_id}"),
    ]  # fmt: skip
    for prop in properties:
        argv += ["--property", prop]
    return argv


def _most_at_once(runs: list[Run]) -> int:
    """The largest number of these runs held at one moment (from assignment to completion)."""
    moments: list[tuple[datetime, int]] = []
    for run in runs:
        assert run.assigned_at is not None and run.completed_at is not None, run
        moments += [(run.assigned_at, 1), (run.completed_at, -1)]
    most = held = 0
    for _, step in sorted(moments, key=lambda moment: (moment[0], moment[1])):
        held += step
        most = max(most, held)
    return most


async def test_burst_of_50_never_exceeds_executor_limit(stack: Stack, storage: Storage) -> None:
    """50 runs triggered at once on 2 workers all succeed, and no worker ever holds more than its limit.

    All 50 are pending before the master is told: triggered one by one, each `echo` could end before
    the next one came, and the least-loaded selector (ties by id) would give every one to w1."""
    runs = [await storage.create_run("demo", "quick", {}, RunSource(type="api")) for _ in range(50)]
    await control(stack, "/control/dispatch")
    done = [await wait_run(stack, storage, run.id, timeout=120) for run in runs]
    assert {run.status for run in done} == {RunStatus.succeeded}, [r for r in done if r.status != "succeeded"]
    for worker in ("w1", "w2"):
        mine = [run for run in done if run.worker == worker]
        assert mine, f"worker {worker} took no run"
        assert _most_at_once(mine) <= LIMIT, worker


async def test_hostile_parameters_pass_literally(stack: Stack, storage: Storage) -> None:
    """Parameter values that look like templates or shell code reach the command as plain text."""
    values = {"a": "{run.__class__}", "b": "$(rm -rf ~)", "c": "; touch pwned"}
    run = await trigger(stack, storage, "literal", **values)
    done = await wait_run(stack, storage, run.id)
    assert done.status == RunStatus.succeeded, done
    assert (
        await DirectoryLogStore(stack.log_dir).read("demo", run.id) == b"{run.__class__}\n$(rm -rf ~)\n; touch pwned\n"
    )


async def test_timeout_ends_aborted_with_reason(stack: Stack, storage: Storage) -> None:
    """A run longer than its job's timeout ends aborted, with the timeout as its reason."""
    run = await trigger(stack, storage, "sleepy")
    done = await wait_run(stack, storage, run.id, timeout=60)
    assert done.status == RunStatus.aborted, done
    assert done.reason == "timeout after 1 s"


async def test_websocket_cut_20_times_during_20_mb_log(stack: Stack, storage: Storage, tmp_path: Path) -> None:
    """A worker behind a proxy that cuts its connection 20 times streams 20 MB byte-identical."""
    copy = tmp_path / "copy.bin"
    async with CuttingProxy(stack.master_port, cut_after=700_000, cuts=20) as proxy:
        worker = Service("worker-cut", _worker_argv(stack, "cut", proxy.port, "net=proxy"), output_dir=stack.directory)
        stack.workers["cut"] = worker.start()
        run = await trigger(stack, storage, "big", copy=str(copy))
        done = await wait_run(stack, storage, run.id, timeout=180)
        assert done.status == RunStatus.succeeded, done
        assert proxy.cut == 20
        worker.stop()
    assert await DirectoryLogStore(stack.log_dir).read("demo", run.id) == copy.read_bytes()
    assert copy.stat().st_size == 20971520


async def test_worker_sigterm_exits_0_and_leaves_its_executor(stack: Stack, storage: Storage, tmp_path: Path) -> None:
    """SIGTERM stops the worker with exit code 0; its executor runs on and a restart finishes the run."""
    gate = tmp_path / "gate"
    argv = _worker_argv(stack, "term", stack.master_port, "pool=term")
    stack.workers["term"] = Service("worker-term", argv, output_dir=stack.directory).start()
    run = await trigger(stack, storage, "gated", gate=str(gate))
    await wait_run(stack, storage, run.id, {"running"})
    pid_file = stack.directory / "worker-term" / "runs" / run.id / "spawned.pid"
    # The run is `running` from its claim; the worker notes the executor's pid once it is forked.
    wait_until(pid_file.exists, what="the executor's pid file")
    assert stack.workers["term"].stop() == 0, stack.workers["term"].output
    executor = int(pid_file.read_text().strip())
    os.kill(executor, 0)  # still alive: raises if not
    gate.touch()
    stack.workers["term"] = Service("worker-term", argv, output_dir=stack.directory).start()
    done = await wait_run(stack, storage, run.id)
    assert done.status == RunStatus.succeeded, done
    assert await DirectoryLogStore(stack.log_dir).read("demo", run.id) == b"done\n"


async def test_master_sigterm_exits_0_and_the_run_completes_after_restart(
    stack: Stack, storage: Storage, tmp_path: Path
) -> None:
    """SIGTERM stops the master with exit code 0 within 10 s while a run runs; once it is back the run completes."""
    gate = tmp_path / "gate"
    if "term" in stack.workers:  # left running by the worker's own SIGTERM test
        stack.workers.pop("term").stop()
    argv = _worker_argv(stack, "term", stack.master_port, "pool=term")
    stack.workers["term"] = Service("worker-term", argv, output_dir=stack.directory).start()
    run = await trigger(stack, storage, "gated", gate=str(gate))
    await wait_run(stack, storage, run.id, {"running"})
    assert stack.master is not None and stack.master.process is not None
    stack.master.process.send_signal(signal.SIGTERM)
    assert stack.master.process.wait(10) == 0, stack.master.output
    gate.touch()  # the run ends while the master is away
    start_master(stack)
    done = await wait_run(stack, storage, run.id)
    assert done.status == RunStatus.succeeded, done
    assert await DirectoryLogStore(stack.log_dir).read("demo", run.id) == b"done\n"
    assert stack.workers["term"].stop() == 0
