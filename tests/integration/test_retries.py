"""Rerun and retries on the real stack (master, api, one worker), including a master killed between attempts."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from podium_storage import open_storage
from tests.conftest import DATABASES
from tests.databases import fresh_database
from tests.stack import Stack
from tests.support import wait_until

# `flaky` fails while its marker file is missing (creating it), so its second attempt succeeds.
FLAKY = ["sh", "-c", 'if [ ! -e "$PODIUM_PARAM_MARKER" ]; then touch "$PODIUM_PARAM_MARKER"; exit 1; fi']
DELAY = 8
"""Seconds `patient` waits before its retry: time enough to kill and restart the master meanwhile."""
CONFIG = f"""
projects:
  - id: again
    jobs:
      - id: echo
        parameters:
          - {{key: name, required: true}}
          - {{key: greeting, default: hello}}
        definition: {{type: job, commands: [["echo", "{{parameters.greeting}} {{parameters.name}}"]]}}
      - id: secretive
        parameters: [{{key: token, secret: true}}]
        definition: {{type: job, commands: [["sh", "-c", "test \\"$PODIUM_PARAM_TOKEN\\" = s3cret-value"]]}}
      - id: flaky
        parameters: [{{key: marker, required: true}}]
        definition:
          type: job
          commands: [{json.dumps(FLAKY)}]
          retry: {{attempts: 2}}
      - id: patient
        parameters: [{{key: marker, required: true}}]
        definition:
          type: job
          commands: [{json.dumps(FLAKY)}]
          retry: {{attempts: 3, on: [failed], delay: {DELAY}}}
"""


@pytest.fixture(scope="module", params=DATABASES)
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack with the jobs above and one worker, shared by the module."""
    directory = tmp_path_factory.mktemp("retries")
    config = directory / "podium.yaml"
    config.write_text(CONFIG)
    with fresh_database(request.param, directory) as url:
        running = Stack(directory, url, config=config)
        try:
            running.start(workers=1)
            yield running
        finally:
            running.stop()


def _runs(stack: Stack, job: str) -> list[dict[str, Any]]:
    response = stack.client.get("/projects/again/runs", params={"job": job, "limit": 100})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _source(run: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in run["source"].items() if value is not None}


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_rerun_copies_the_parameters(stack: Stack) -> None:
    """`POST .../rerun` answers 201 with a new run of the job: the parameters as stored, the source naming the run."""
    first = stack.wait_run("again", stack.trigger("again", "echo", name="ann")["id"])
    assert first["status"] == "succeeded"
    response = stack.client.post(f"/projects/again/runs/{first['id']}/rerun")
    assert response.status_code == 201, response.text
    again = response.json()
    assert again["id"] != first["id"] and again["job"] == "echo"
    assert again["parameters"] == first["parameters"] == {"name": "ann", "greeting": "hello"}
    assert _source(again) == {"type": "rerun", "run": first["id"], "user": "admin"}
    assert stack.wait_run("again", again["id"])["status"] == "succeeded"
    assert stack.log("again", again["id"]).strip().endswith(b"hello ann")
    listed = stack.client.get("/projects/again/runs", params={"source": "rerun"}).json()["items"]
    assert again["id"] in [run["id"] for run in listed]
    unknown = stack.client.post("/projects/again/runs/01234567-89ab-7def-8123-456789abcdef/rerun")
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"


def test_rerun_keeps_secret_parameters_secret_and_the_webhook_payload(stack: Stack) -> None:
    """A rerun's secret parameter is answered masked and reaches the commands whole; a stored payload goes with it."""
    first = stack.wait_run("again", stack.trigger("again", "secretive", token="s3cret-value")["id"])
    assert first["status"] == "succeeded" and first["parameters"] == {"token": "[masked]"}

    async def store_payload() -> None:
        async with open_storage(stack.database_url) as storage:
            await storage.put_run_payload(first["id"], '{"ref": "main"}')

    asyncio.run(store_payload())
    response = stack.client.post(f"/projects/again/runs/{first['id']}/rerun")
    assert response.status_code == 201, response.text
    again = response.json()
    assert again["parameters"] == {"token": "[masked]"} and again["secret_parameters"] == ["token"]
    assert stack.wait_run("again", again["id"])["status"] == "succeeded"  # the command saw the real value

    async def payload() -> str | None:
        async with open_storage(stack.database_url) as storage:
            return await storage.get_run_payload(again["id"])

    assert asyncio.run(payload()) == '{"ref": "main"}'


def test_rerun_from_the_command_line(stack: Stack, tmp_path: Path) -> None:
    """`podium runs rerun PROJECT RUN --wait` starts the same job with the same parameters and waits for it."""
    first = stack.wait_run("again", stack.trigger("again", "echo", name="bob", greeting="hi")["id"])
    token = stack.client.headers["Authorization"].removeprefix("Bearer ")
    env = {**os.environ, "PODIUM_API_URL": stack.api_url, "PODIUM_TOKEN": token, "PODIUM_CONFIG_DIR": str(tmp_path)}
    done = subprocess.run(
        ["podium", "--json", "runs", "rerun", "again", first["id"][-8:], "--wait"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    reruns = [run for run in _runs(stack, "echo") if run["source"].get("run") == first["id"]]
    assert len(reruns) == 1 and reruns[0]["status"] == "succeeded"
    assert reruns[0]["parameters"] == {"name": "bob", "greeting": "hi"} and reruns[0]["source"]["type"] == "rerun"


def test_a_failure_is_retried_and_the_retry_succeeds(stack: Stack, tmp_path: Path) -> None:
    """With `retry.attempts: 2`, a run that fails once is followed by attempt 2, which succeeds; both linked."""
    marker = tmp_path / "flaky"
    first = stack.trigger("again", "flaky", marker=str(marker))
    failed = stack.wait_run("again", first["id"])
    assert failed["status"] == "failed" and marker.exists(), failed["reason"]
    assert failed["attempt"] == 1 and failed["retried_by"] is not None
    assert failed["retry"] == {"attempts": 2, "on": ["failed", "exception"], "delay": 0.0, "backoff": 1.0}
    retry = stack.wait_run("again", failed["retried_by"])
    assert retry["status"] == "succeeded" and retry["attempt"] == 2 and retry["retried_by"] is None
    assert _source(retry) == {"type": "retry", "run": first["id"], "user": "admin"}
    assert retry["parameters"] == {"marker": str(marker)}


def test_a_master_killed_during_the_delay_neither_loses_nor_doubles_the_retry(stack: Stack, tmp_path: Path) -> None:
    """SIGKILL of the master while attempt 2 waits its delay: after the restart it runs once, not before its time."""
    marker = tmp_path / "patient"
    first = stack.trigger("again", "patient", marker=str(marker))
    failed = stack.wait_run("again", first["id"])
    assert failed["status"] == "failed" and failed["retried_by"] is not None
    waiting = stack.run("again", failed["retried_by"])
    assert waiting["status"] == "pending" and waiting["attempt"] == 2 and waiting["not_before"] is not None
    assert (_when(waiting["not_before"]) - _when(failed["completed_at"])).total_seconds() == pytest.approx(
        DELAY, abs=0.01
    )
    assert stack.master is not None
    stack.master.kill()
    assert stack.run("again", waiting["id"])["status"] == "pending"  # killed during the delay
    # A sweep a minute apart: only the dispatcher's timer can start the retry on time.
    stack.start_master("--sweep-interval", "60")
    retry = stack.wait_run("again", waiting["id"], timeout=90)
    assert retry["status"] == "succeeded"
    late = (_when(retry["assigned_at"]) - _when(waiting["not_before"])).total_seconds()
    # Not before its time (across the restart), and well before the next sweep: the timer woke it
    # (the margin is for a loaded machine, where the worker may reconnect after the time).
    assert 0 <= late < 30, late
    runs = _runs(stack, "patient")
    assert sorted(run["id"] for run in runs) == sorted([first["id"], waiting["id"]])

    # The worker is back and idle: nothing else of `patient` appears (a doubled retry would, at once).
    def idle() -> bool:
        worker = stack.client.get("/workers/w1").json()
        return bool(worker["is_active"])

    wait_until(idle, 30, "worker w1 connected again")
    assert len(_runs(stack, "patient")) == 2
