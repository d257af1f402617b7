"""Cancel through the api goes through the master's lifecycle: published, counted, one path.

Real master and api processes on one database, no worker (so a run stays pending until it
is cancelled): the cancellation reaches `GET /api/v1/events` and the master's
`podium_runs_finished_total`; with the master away, the api records the request and the
master carries it out when it is back.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.operations.test_metrics import scrape
from tests.stack import Stack
from tests.support import wait_until

CONFIG = """
projects:
  - id: demo
    jobs:
      - id: hello
        definition: {type: job, commands: [["echo", "hello"]]}
"""
CANCELLED = ("podium_runs_finished_total", (("status", "cancelled"),))


@pytest.fixture
def stack(tmp_path: Path, database_url: str) -> Iterator[Stack]:
    """master and api, no worker."""
    config = tmp_path / "podium.yaml"
    config.write_text(CONFIG)
    stack = Stack(tmp_path, database_url, config)
    try:
        stack.start(workers=0)
        yield stack
    finally:
        stack.stop()


class EventReader:
    """`GET /api/v1/events` read in a thread; the `run` events it received, in order."""

    def __init__(self, stack: Stack) -> None:
        self.runs: list[dict[str, Any]] = []
        self.opened = threading.Event()
        self._closing = False
        self._client = httpx.Client(
            base_url=stack.client.base_url, headers=stack.client.headers, timeout=httpx.Timeout(10, read=60)
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            with self._client.stream("GET", "/events") as response:
                self.opened.set()
                event = ""
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        event = line.removeprefix("event: ")
                    elif line.startswith("data: ") and event == "run":
                        self.runs.append(json.loads(line.removeprefix("data: ")))
        except Exception:
            if not self._closing:
                raise  # closing the client ends the stream with an error: that one is expected

    def close(self) -> None:
        self._closing = True
        self._client.close()
        self._thread.join(10)


def test_a_cancel_through_the_api_is_published_and_counted(stack: Stack) -> None:
    """The cancelled run appears on /api/v1/events and once in podium_runs_finished_total."""
    assert scrape(stack.master_url).get(CANCELLED, 0) == 0
    run = stack.trigger("demo", "hello")
    reader = EventReader(stack)
    try:
        assert reader.opened.wait(30), "events stream opened"
        response = stack.client.post(f"/projects/demo/runs/{run['id']}/cancel")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "cancelled"
        assert response.json()["reason"] == "cancelled by admin"

        def published() -> bool:
            return any(e["id"] == run["id"] and e["status"] == "cancelled" for e in reader.runs)

        wait_until(published, 30, "the cancellation on /api/v1/events")
    finally:
        reader.close()
    assert scrape(stack.master_url)[CANCELLED] == 1
    again = stack.client.post(f"/projects/demo/runs/{run['id']}/cancel")
    assert again.status_code == 409
    assert scrape(stack.master_url)[CANCELLED] == 1


def test_a_cancel_while_the_master_is_away_is_carried_out_when_it_is_back(stack: Stack) -> None:
    """202 with `should_cancel` set; the restarted master cancels the run (and counts it)."""
    run = stack.trigger("demo", "hello")
    assert stack.master is not None
    stack.master.stop()
    response = stack.client.post(f"/projects/demo/runs/{run['id']}/cancel")
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending"
    assert response.json()["should_cancel"] is True
    stack.start_master()
    cancelled = stack.wait_run("demo", run["id"], {"cancelled"})
    assert cancelled["reason"] == "cancelled by admin"
    assert wait_until(lambda: scrape(stack.master_url).get(CANCELLED) == 1, 30, "counted")
