"""Webhooks out, through the real processes: each run's end is POSTed, signed, retried until answered."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.stack import Stack
from tests.support import free_port, wait_until

SECRET = "notify-secret-value-8d21"
# Retries in tens of milliseconds instead of seconds (docs/notifications.md, Settings).
FAST_RETRIES = ("--delivery-retry-delay", "0.05", "--delivery-retry-max", "0.2")


@dataclass
class Received:
    """One POST the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes
    answered: int


@dataclass
class Receiver:
    """A local HTTP server recording every POST; `failures[path]` answers 500 that many times first."""

    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    refusing: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> ThreadingHTTPServer:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    code = 200
                    if self.path in receiver.refusing:
                        code = 503
                    elif receiver.failures.get(self.path, 0) > 0:
                        receiver.failures[self.path] -= 1
                        code = 500
                    headers = {name.lower(): value for name, value in self.headers.items()}
                    receiver.received.append(Received(self.path, headers, body, code))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [request for request in self.received if request.path == path]


def _configuration(receiver: Receiver) -> dict[str, Any]:
    jobs = [
        {"id": "ok", "definition": {"type": "job", "commands": [["true"]]}},
        {"id": "bad", "definition": {"type": "job", "commands": [["false"]]}},
    ]
    notifications = [
        {"url": receiver.url("/all"), "events": ["run.finished"], "secret": "NOTIFY"},
        {"url": receiver.url("/flaky"), "events": ["run.failed"], "jobs": ["bad"], "secret": "NOTIFY"},
    ]
    return {"projects": [{"id": "announced", "jobs": jobs, "notifications": notifications}, {"id": "quiet"}]}


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """The local receiver of the deliveries."""
    running = Receiver()
    server = running.start()
    try:
        yield running
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[Stack]:
    """master (fast retries), api and one worker on SQLite; a project with two notifications."""
    directory = tmp_path_factory.mktemp("webhooks-out")
    running = Stack(directory, f"sqlite+aiosqlite:///{directory}/podium.db")
    try:
        running.prepare()
        running.start_master(*FAST_RETRIES)
        running.start_api()
        running.start_worker("w1")
        client = running.client
        assert client.put("/admin/configuration", json={"projects": [{"id": "announced"}]}).status_code == 200
        assert client.put("/projects/announced/secrets/NOTIFY", json={"value": SECRET}).status_code == 200
        answer = client.put("/admin/configuration", json=_configuration(receiver))
        assert answer.status_code == 200, answer.text
        yield running
    finally:
        running.stop()


def _check_signed(request: Received) -> dict[str, Any]:
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-podium-signature"] == expected
    assert request.headers["content-type"] == "application/json"
    body: dict[str, Any] = json.loads(request.body)
    assert request.headers["x-podium-delivery"] == body["id"]
    assert request.headers["x-podium-event"] == body["event"]
    return body


def _deliveries(stack: Stack, run_id: str) -> list[dict[str, Any]]:
    answer = stack.client.get("/projects/announced/deliveries", params={"run": run_id})
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def test_every_finished_run_is_posted_signed(stack: Stack, receiver: Receiver) -> None:
    """Each run's end reaches the receiver once, signed, naming the run; a quiet project posts nothing."""
    runs = [stack.trigger("announced", "ok")["id"], stack.trigger("announced", "ok")["id"]]
    for run_id in runs:
        assert stack.wait_run("announced", run_id, timeout=60)["status"] == "succeeded"

    def arrived() -> list[dict[str, Any]] | None:
        bodies = [json.loads(r.body) for r in receiver.at("/all")]
        mine = [body for body in bodies if body["run"]["id"] in runs]
        return mine if len(mine) >= len(runs) else None

    bodies = wait_until(arrived, 30, "a delivery per run")
    assert sorted(body["run"]["id"] for body in bodies) == sorted(runs)  # once each
    for request in receiver.at("/all"):
        body = _check_signed(request)
        assert body["event"] == "run.finished" and body["project"] == "announced" and body["job"] == "ok"
        assert body["run"]["status"] == "succeeded"
    for run_id in runs:
        (delivery,) = wait_until(lambda run_id=run_id: _delivered(stack, run_id), 30, "delivered")
        assert delivery["id"] == f"{run_id}.00" and delivery["attempt_count"] == 1
        assert delivery["attempts"][0]["status_code"] == 200 and delivery["attempts"][0]["error"] is None
    assert stack.client.get("/projects/quiet/deliveries").json()["items"] == []


def _delivered(stack: Stack, run_id: str) -> list[dict[str, Any]] | None:
    items = _deliveries(stack, run_id)
    return items if items and all(item["status"] == "delivered" for item in items) else None


def test_a_receiver_failing_three_times_still_gets_it_once(stack: Stack, receiver: Receiver) -> None:
    """500, 500, 500, then 200: four POSTs of one delivery id, one accepted; each attempt listed."""
    with receiver.lock:
        receiver.failures["/flaky"] = 3
    run_id = stack.trigger("announced", "bad")["id"]
    assert stack.wait_run("announced", run_id, timeout=60)["status"] == "failed"
    deliveries = wait_until(lambda: _delivered(stack, run_id), 30, "delivered after retries")
    assert [(d["id"], d["event"]) for d in reversed(deliveries)] == [
        (f"{run_id}.00", "run.finished"),
        (f"{run_id}.01", "run.failed"),
    ]
    flaky = [r for r in receiver.at("/flaky") if json.loads(r.body)["run"]["id"] == run_id]
    assert [r.answered for r in flaky] == [500, 500, 500, 200]
    assert {r.headers["x-podium-delivery"] for r in flaky} == {f"{run_id}.01"}
    assert len({r.body for r in flaky}) == 1  # the same bytes on every retry
    assert _check_signed(flaky[0])["event"] == "run.failed"
    retried = deliveries[0]
    assert retried["attempt_count"] == 4
    assert [a["status_code"] for a in retried["attempts"]] == [500, 500, 500, 200]
    assert [a["error"] for a in retried["attempts"]][:3] == ["answered 500"] * 3
    assert [a["attempt"] for a in retried["attempts"]] == [1, 2, 3, 4]
    # In order within the run: the run.failed delivery went only after run.finished was delivered.
    finished = next(r for r in receiver.at("/all") if json.loads(r.body)["run"]["id"] == run_id)
    assert receiver.received.index(finished) < receiver.received.index(flaky[0])


def test_a_pending_delivery_survives_a_master_restart(stack: Stack, receiver: Receiver) -> None:
    """The outbox is in the database: a master stopped while a receiver refuses sends it after its restart."""
    with receiver.lock:
        receiver.refusing.add("/flaky")
    run_id = stack.trigger("announced", "bad")["id"]
    assert stack.wait_run("announced", run_id, timeout=60)["status"] == "failed"
    wait_until(
        lambda: any(json.loads(r.body)["run"]["id"] == run_id for r in receiver.at("/flaky")), 30, "a refused attempt"
    )
    assert stack.master is not None
    stack.master.kill()
    stack.start_master(*FAST_RETRIES)
    with receiver.lock:
        receiver.refusing.discard("/flaky")
    wait_until(lambda: _delivered(stack, run_id), 30, "delivered after the restart")
    accepted = [r for r in receiver.at("/flaky") if json.loads(r.body)["run"]["id"] == run_id and r.answered == 200]
    assert len(accepted) == 1
