"""The worker's local `GET /health` (`--health-port`), with a real master and worker."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from podium_model.messages import Heartbeat, worker_message_adapter
from tests.databases import sqlite_url
from tests.operations.helpers import start_worker
from tests.stack import Stack
from tests.support import free_port, wait_until


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """SQLite only: the health endpoint is the worker's own, the same on every database."""
    yield sqlite_url(tmp_path)


def get(port: int, path: str = "/health") -> httpx.Response | None:
    """GET on the worker's health port; None while nothing listens."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
    except httpx.TransportError:
        return None


def raw(port: int, request: bytes) -> bytes:
    """Send raw bytes and read the whole answer (the server closes after one response)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_health_answers_200_when_connected_and_503_without_master(stack: Stack) -> None:
    """`GET /health` is 200 JSON with the health fields while connected, 503 once the master is gone."""
    port = free_port()
    start_worker(stack, "w1", "--health-port", str(port))

    def connected() -> httpx.Response | None:
        response = get(port)
        return response if response is not None and response.status_code == 200 else None

    body = wait_until(connected, 60, "worker connected").json()
    assert body["status"] == "ok" and body["connected"] is True and body["draining"] is False, body
    assert body["master"] == f"ws://127.0.0.1:{stack.master_port}/ws/worker"
    assert body["worker"] == "w1"
    assert body["running"] == 0 and body["executor_limit"] == 2 and body["log_bytes"] == {}
    assert isinstance(body["disk_free_bytes"], int) and body["disk_free_bytes"] > 0
    assert isinstance(body["load_average"], list) and len(body["load_average"]) == 3

    assert get(port, "/other").status_code == 404  # type: ignore[union-attr]
    assert get(port, "/health?verbose=1").status_code == 200  # type: ignore[union-attr]
    posted = httpx.post(f"http://127.0.0.1:{port}/health", timeout=5)
    assert posted.status_code == 405 and posted.headers["allow"] == "GET, HEAD"
    assert posted.headers["content-type"] == "application/problem+json"
    assert raw(port, b"nonsense\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert raw(port, b"GET /health HTTP/1.1\r\nX: " + b"x" * 10_000 + b"\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    head = raw(port, b"HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and head.endswith(b"\r\n\r\n")

    assert stack.master is not None
    stack.master.stop()

    def disconnected() -> httpx.Response | None:
        response = get(port)
        return response if response is not None and response.status_code == 503 else None

    gone = wait_until(disconnected, 60, "worker to see the master gone").json()
    assert gone["status"] == "disconnected" and gone["connected"] is False, gone


def test_health_port_taken_is_a_clear_error(stack: Stack) -> None:
    """A health port that cannot be bound stops the worker at start with exit code 1 and a clear line."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        worker = start_worker(stack, "w1", "--health-port", str(port))
        wait_until(lambda: not worker.alive(), 60, "the worker to exit")
    assert worker.process is not None and worker.process.returncode == 1, worker.output
    assert "cannot serve the health endpoint on 127.0.0.1:" in worker.output
    assert "Traceback" not in worker.output


def test_heartbeat_of_an_older_worker_stays_valid() -> None:
    """A heartbeat without the health fields (an older worker) parses with empty health; bad values are refused."""
    old = worker_message_adapter.validate_json('{"type": "heartbeat", "v": 1, "running": ["r1"]}')
    assert isinstance(old, Heartbeat)
    assert old.running == ["r1"] and old.draining is False and old.log_sizes == {}
    assert old.disk_free_bytes is None and old.load_average is None and old.executor_limit is None
    with pytest.raises(ValidationError):
        Heartbeat.model_validate({"log_sizes": {"r1": -1}})
    with pytest.raises(ValidationError):
        Heartbeat.model_validate({"load_average": [1, 2, 3, 4]})
