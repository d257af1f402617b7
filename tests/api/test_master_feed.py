"""The api's live streams fed by the real master's `/control/events`, with a real worker."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.stack import Stack

CONFIG = """
projects:
  - id: demo
    jobs:
      - id: hello
        definition:
          type: job
          commands: [["echo", "hello from the worker"]]
"""


@pytest.fixture
def stack(database_url: str, tmp_path: Path) -> Iterator[Stack]:
    """Master, api and one worker on a prepared database."""
    config = tmp_path / "podium.yaml"
    config.write_text(CONFIG)
    started = Stack(tmp_path, database_url, config)
    try:
        started.start(workers=1)
        yield started
    finally:
        started.stop()
    assert "Traceback" not in started.outputs(), started.outputs()


async def _events(client: httpx.AsyncClient, url: str, until: Any) -> list[tuple[str, dict[str, Any]]]:
    """Server-sent events of `url` until `until(event, data)` is true."""
    seen: list[tuple[str, dict[str, Any]]] = []
    async with client.stream("GET", url) as response:
        assert response.status_code == 200
        event = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = json.loads(line.removeprefix("data: "))
                seen.append((event, data))
                if until(event, data):
                    return seen
    return seen


async def test_a_triggered_run_is_pushed_to_the_streams(stack: Stack) -> None:
    """/events shows the run reach succeeded and its log stream ends with the worker's output."""
    headers = dict(stack.client.headers)
    async with httpx.AsyncClient(base_url=f"{stack.api_url}/api/v1", headers=headers, timeout=30) as client:
        following = asyncio.Event()  # the snapshot's first event (the worker) arrived
        run_id = ""

        def finished(event: str, data: dict[str, Any]) -> bool:
            following.set()
            return event == "run" and data.get("id") == run_id and data["status"] == "succeeded"

        follower = asyncio.create_task(_events(client, "/events", finished))
        async with asyncio.timeout(30):
            await following.wait()
        trigger = await client.post("/projects/demo/jobs/hello/runs", json={})
        assert trigger.status_code == 201, trigger.text
        run_id = trigger.json()["id"]
        async with asyncio.timeout(60):
            log = await _events(client, f"/projects/demo/runs/{run_id}/log/stream", lambda e, _: e == "end")
            events = await follower
    assert log[-1][0] == "end" and log[-1][1]["status"] == "succeeded", stack.outputs()
    assert "hello from the worker" in "".join(data["data"] for event, data in log if event == "log")
    statuses = [data["status"] for event, data in events if event == "run" and data["id"] == run_id]
    assert statuses[-1] == "succeeded" and "running" in statuses
