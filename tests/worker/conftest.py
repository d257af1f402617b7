"""Fixtures of the worker tests: a real master, jobs from a configuration file, runs in storage."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from podium_model import Run, RunSource
from podium_storage import Storage, open_storage
from tests.master.conftest import start_master
from tests.stack import FINAL, Stack, admin

CONFIG = """
projects:
  - id: demo
    jobs:
      - id: hello
        parameters: [{key: name, default: world}]
        definition:
          type: job
          commands:
            - ["echo", "hello {parameters.name}"]
            - ["sh", "-c", "echo '{{\\"greeted\\": true}}' > \\"$PODIUM_RESULTS\\""]
      - id: fail
        definition: {type: job, commands: [["sh", "-c", "echo oops; exit 3"]]}
      - id: slow
        definition: {type: job, commands: [["sleep", "60"]]}
      - id: plan9
        properties: {os: plan9}
        definition: {type: job, commands: [["echo", "on plan9"]]}
      - id: boxed
        definition: {type: job, image: "podium-test/busybox:1", commands: [["/bin/busybox", "true"]]}
      - id: stream
        parameters: [{key: copy}, {key: gate}]
        definition:
          type: job
          commands:
            - ["sh", "-c", "for i in $(seq 200); do echo line $i; echo line $i >> {parameters.copy}; done"]
            - ["sh", "-c", "while [ ! -e {parameters.gate} ]; do sleep 0.05; done"]
            - ["sh", "-c", "for i in $(seq 200); do echo more $i; echo more $i >> {parameters.copy}; done"]
      - id: chatty
        parameters: [{key: gate}]
        definition:
          type: job
          commands:
            - ["echo", "one"]
            - ["sh", "-c", "echo two; while [ ! -e {parameters.gate} ]; do sleep 0.05; done"]
"""


@pytest.fixture
def stack(tmp_path: Path, database_url: str) -> Iterator[Stack]:
    """A prepared database with the demo jobs, and a running master; workers start in the tests."""
    config = tmp_path / "podium.yaml"
    config.write_text(CONFIG)
    stack = Stack(tmp_path, database_url)
    stack.prepare()
    admin(database_url, "apply", str(config))
    start_master(stack)
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
async def storage(stack: Stack) -> AsyncIterator[Storage]:
    """The test's own connection to the stack's database."""
    async with open_storage(stack.database_url) as storage:
        yield storage


async def trigger(stack: Stack, storage: Storage, job: str, **parameters: str) -> Run:
    """Create a pending run as the api would, then tell the master."""
    run = await storage.create_run("demo", job, parameters, RunSource(type="api"))
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{stack.master_url}/control/dispatch", headers={"X-Podium-Control-Secret": stack.secret}
        )
    assert response.status_code == 200, response.text
    return run


async def control(stack: Stack, path: str) -> dict[str, str]:
    """POST a control call to the master."""
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{stack.master_url}{path}", headers={"X-Podium-Control-Secret": stack.secret})
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


async def wait_run(
    stack: Stack, storage: Storage, run_id: str, statuses: set[str] = FINAL, timeout: float = 60.0, **fields: object
) -> Run:
    """Wait (condition with deadline) until the run is in `statuses` and has `fields`."""
    deadline = time.monotonic() + timeout
    pause = 0.002
    while True:
        run = await storage.get_run(run_id)
        if run is not None and run.status in statuses and all(getattr(run, k) == v for k, v in fields.items()):
            return run
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} never reached {statuses} {fields}: {run}\n{stack.outputs()}")
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.05)
