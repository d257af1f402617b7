"""The api in front of two masters on one PostgreSQL, as real processes (docs/architecture.md, Several masters).

Masters a and b share the database and the log directory; worker w1 connects to a only, w2 to
b only, and each job fits one of them (`--property side=a|b`). The api is given both master URLs:
its control calls reach both, its live feed merges both masters' events, and its health names
each master.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from podium_model.pipelines import element_run_id
from tests.databases import fresh_database
from tests.master.test_several_masters import Masters
from tests.stack import Stack
from tests.support import wait_until

pytestmark = pytest.mark.postgres
logger = logging.getLogger(__name__)

CONFIG = """
projects:
  - id: demo
    jobs:
      - id: hold-a
        properties: {side: a}
        definition: {type: job, commands: [["sh", "-c", "while true; do sleep 0.1; done"]]}
      - id: hold-b
        properties: {side: b}
        definition: {type: job, commands: [["sh", "-c", "while true; do sleep 0.1; done"]]}
      - id: both
        description: hold-a and hold-b side by side, one on each master's worker.
        definition:
          type: pipeline
          elements:
            - {id: on-a, job: hold-a}
            - {id: on-b, job: hold-b}
"""

ABORT_DEADLINE = 10.0
"""Seconds an abort may take in a test on a loaded machine (the figure measured is logged; about 0.4 s)."""


class EventStream:
    """The api's `/api/v1/events`, read in a thread: each `run` event with the moment it arrived."""

    def __init__(self, stack: Stack) -> None:
        self.runs: list[tuple[float, dict[str, Any]]] = []
        self.opened = threading.Event()
        self._client = httpx.Client(base_url=f"{stack.api_url}/api/v1", headers=dict(stack.client.headers))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with self._client.stream("GET", "/events", timeout=httpx.Timeout(10, read=None)) as response:
            event = ""
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    self.opened.set()
                    if event == "run":
                        self.runs.append((time.monotonic(), json.loads(line.removeprefix("data: "))))

    def reached(self, run_id: str, status: str) -> float | None:
        """When the stream said `run_id` is `status` (None: not yet)."""
        return next((at for at, run in list(self.runs) if run["id"] == run_id and run["status"] == status), None)

    def close(self) -> None:
        """Stop reading (the thread ends at the next line; the client closes)."""
        self._stop.set()
        self._client.close()


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[Stack, Masters]]:
    """Masters a and b, workers w1 (on a) and w2 (on b), and the api given both masters."""
    config = tmp_path / "podium.yaml"
    config.write_text(CONFIG)
    with fresh_database("postgresql", tmp_path) as url:
        stack = Stack(tmp_path, url, config)
        stack.prepare()
        masters = Masters(stack)
        try:
            masters.start("a")
            masters.start("b")
            stack.start_api(masters=(masters.url("a"), masters.url("b")))
            stack.start_worker("w1", 2, "side=a", masters=(masters.socket("a"),))
            stack.start_worker("w2", 2, "side=b", masters=(masters.socket("b"),))

            def held() -> bool:
                workers = {w["id"]: w for w in stack.client.get("/workers").json()}
                return all(workers.get(w, {}).get("is_active") and workers[w]["master"] == m for w, m in WORKERS)

            wait_until(held, 60, "w1 on master a and w2 on master b")
            yield stack, masters
        finally:
            stack.stop()
            masters.stop()
        assert "Traceback" not in stack.outputs(), stack.outputs()


WORKERS = (("w1", "a"), ("w2", "b"))


def _abort(stack: Stack, events: EventStream, run_id: str) -> float:
    """Abort a running run through the api; seconds until the api's stream says it is aborted."""
    asked = time.monotonic()
    answer = stack.client.post(f"/projects/demo/runs/{run_id}/abort")
    assert answer.status_code == 200, answer.text
    ended = wait_until(lambda: events.reached(run_id, "aborted"), 60, f"run {run_id} aborted on the stream")
    return ended - asked


def test_aborts_reach_either_master_and_the_stream_shows_both(two: tuple[Stack, Masters]) -> None:
    """Runs on both masters' workers appear on the api's event stream; an abort of each stops it at once."""
    stack, masters = two
    events = EventStream(stack)
    try:
        assert events.opened.wait(30), "the event stream answered nothing"
        on_a = stack.trigger("demo", "hold-a")["id"]
        on_b = stack.trigger("demo", "hold-b")["id"]
        for run_id, worker in ((on_a, "w1"), (on_b, "w2")):
            wait_until(lambda run_id=run_id: events.reached(run_id, "running"), 60, f"{run_id} running on the stream")
            assert stack.run("demo", run_id)["worker"] == worker
        took = {"b": _abort(stack, events, on_b), "a": _abort(stack, events, on_a)}
        logger.info("abort to aborted on the api's stream: master b %.3f s, master a %.3f s", took["b"], took["a"])
        assert all(seconds < ABORT_DEADLINE for seconds in took.values()), took
        for run_id in (on_a, on_b):
            assert stack.run("demo", run_id)["status"] == "aborted"
    finally:
        events.close()


def test_with_one_master_down_the_api_serves_and_its_calls_reach_the_other(two: tuple[Stack, Masters]) -> None:
    """Master b stopped: health is degraded and names b; runs on a are triggered, streamed and aborted."""
    stack, masters = two
    health = stack.client.get("/health").json()
    assert health["status"] == "ok" and health["master"] == "ok", health
    assert [(m["id"], m["reachable"]) for m in health["masters"]] == [("a", True), ("b", True)], health
    for master_id in ("a", "b"):  # each master's metrics say which master they are
        metrics = httpx.get(masters.url(master_id, "/metrics"), timeout=10).text
        assert f'podium_master_info{{master="{master_id}"}} 1.0' in metrics
    masters.services["b"].stop()

    def degraded() -> dict[str, Any] | None:
        answer: dict[str, Any] = stack.client.get("/health").json()
        return answer if answer["status"] == "degraded" else None

    health = wait_until(degraded, 30, "the api's health to see master b down")
    assert health["master"] == "unreachable" and masters.url("b") in (health["master_reason"] or ""), health
    assert [(m["id"], m["reachable"]) for m in health["masters"]] == [("a", True), ("b", False)], health
    assert health["masters"][1]["reason"], health
    events = EventStream(stack)
    try:
        assert events.opened.wait(30), "the event stream answered nothing"
        run_id = stack.trigger("demo", "hold-a")["id"]
        wait_until(lambda: events.reached(run_id, "running"), 60, "the run on master a running on the stream")
        took = _abort(stack, events, run_id)
        logger.info("abort to aborted with master b down: %.3f s", took)
        assert took < ABORT_DEADLINE
    finally:
        events.close()
    assert stack.client.get("/projects/demo/jobs").status_code == 200


def test_a_pipeline_abort_stops_its_elements_on_both_masters(two: tuple[Stack, Masters]) -> None:
    """A pipeline with an element on each master's worker, aborted: both elements stop at once.

    The abort reaches master a first and master b a moment later (the api's broadcast, one call
    slower than the other): a flags both elements and sends the abort to the one its worker holds;
    b, asked later, still sends it to the element its worker holds though a flagged it already.
    """
    stack, masters = two
    events = EventStream(stack)
    secret = {"X-Podium-Control-Secret": stack.secret}
    try:
        wait_until(events.opened.is_set, 30, "the event stream open")
        pipeline = stack.trigger("demo", "both")
        elements = {side: element_run_id(pipeline["id"], f"on-{side}") for side in ("a", "b")}
        for run_id in elements.values():
            wait_until(lambda run_id=run_id: events.reached(run_id, "running"), 60, f"element {run_id} running")
        asked = time.monotonic()
        for side in ("a", "b"):
            url = masters.url(side, f"/control/runs/{pipeline['id']}/abort")
            httpx.post(url, headers=secret, timeout=10).raise_for_status()
        for side, run_id in elements.items():
            ended = wait_until(lambda run_id=run_id: events.reached(run_id, "aborted"), 60, f"element on {side}")
            logger.info("pipeline element on master %s: abort to aborted %.3f s", side, ended - asked)
            assert ended - asked < ABORT_DEADLINE
        assert stack.wait_run("demo", pipeline["id"])["status"] == "aborted"
    finally:
        events.close()
