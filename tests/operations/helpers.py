"""Helpers of the operations tests: a small configuration, runs created and read in storage."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from podium_model import Run, RunSource
from podium_storage import open_storage
from tests.stack import FINAL, Stack, admin
from tests.support import Service, wait_until

CONFIG = """
projects:
  - id: ops
    jobs:
      - id: hello
        definition: {type: job, commands: [["echo", "hello"]]}
      - id: lines
        parameters:
          - {key: count, default: "5"}
        definition:
          type: job
          commands:
            - ["sh", "-c", "for i in $(seq 1 {parameters.count}); do echo line-$i; sleep 0.1; done"]
  - id: keep
    jobs:
      - id: hello
        definition: {type: job, commands: [["echo", "kept"]]}
"""


def configured_stack(directory: Path, database_url: str) -> Stack:
    """A prepared stack (users made) with the `ops` project applied; nothing started."""
    config = directory / "podium.yaml"
    config.write_text(CONFIG)
    stack = Stack(directory, database_url)
    stack.prepare()
    admin(database_url, "apply", str(config))
    return stack


async def _create(url: str, project: str, job: str, parameters: dict[str, str]) -> Run:
    async with open_storage(url) as storage:
        return await storage.create_run(project, job, parameters, RunSource(type="api", user="admin"))


async def _get(url: str, run_id: str) -> Run | None:
    async with open_storage(url) as storage:
        return await storage.get_run(run_id)


def create_run(stack: Stack, job: str, verify: Any = True, **parameters: str) -> Run:
    """Store a pending run of `ops/job` and wake the master's dispatcher."""
    run = asyncio.run(_create(stack.database_url, "ops", job, parameters))
    response = httpx.post(
        f"{stack.master_url}/control/dispatch", headers={"X-Podium-Control-Secret": stack.secret}, verify=verify
    )
    assert response.status_code == 200, response.text
    return run


def get_run(stack: Stack, run_id: str) -> Run:
    """The run as stored."""
    run = asyncio.run(_get(stack.database_url, run_id))
    assert run is not None
    return run


def wait_final(stack: Stack, run_id: str, timeout: float = 60.0) -> Run:
    """Wait until the stored run is final; return it."""

    def final() -> Run | None:
        run = get_run(stack, run_id)
        return run if run.status.value in FINAL else None

    try:
        return wait_until(final, timeout, f"run {run_id} final")
    except TimeoutError:
        raise TimeoutError(f"run {run_id} never ended\n{stack.outputs()}") from None


def start_worker(stack: Stack, worker_id: str, *extra: str, master: str | None = None) -> Service:
    """Start a worker with extra flags (and another master URL, e.g. wss://); it is stopped with the stack."""
    argv = [
        "podium-worker",
        "--master", master or f"ws://127.0.0.1:{stack.master_port}/ws/worker",
        "--id", worker_id,
        "--user", "workers",
        "--token-file", str(stack.worker_token_file),
        "--executor-limit", "2",
        "--home", str(stack.directory / f"worker-{worker_id}"),
        *extra,
    ]  # fmt: skip
    service = Service(f"worker-{worker_id}", argv, output_dir=stack.directory).start()
    stack.workers[worker_id] = service
    return service
