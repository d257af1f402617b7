"""The worker's health: what its heartbeats tell the master, and the optional local `GET /health`.

`measure` takes the numbers a person on call needs (runs and executor limit, free disk under
the worker's home, load average, log bytes written per running run). `HealthServer` answers
`GET /health` with them on a local port: 200 while connected to the master, 503 otherwise, so
that a process supervisor or a load balancer can probe the worker. It is a few lines of HTTP/1.1
on `asyncio.start_server`, one request per connection, because the worker stays light (no web
framework).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from podium_model.messages import Heartbeat
from podium_model.problems import PROBLEM_MEDIA_TYPE, Problem

if TYPE_CHECKING:
    from podium_worker.runs import RunSet

logger = logging.getLogger(__name__)

MAX_HEAD = 8192
"""Largest request head (request line and headers) read; a probe sends a hundred bytes."""
READ_TIMEOUT = 5.0
"""Seconds a client has to send its request head, so that an idle connection holds nothing."""
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}

Report = Callable[[], dict[str, Any]]

DISK_FULL_BELOW = 64 * 1024
"""Free bytes under the home below which the worker's disk counts as full (less than a log chunk)."""


def disk_full(heartbeat: Heartbeat) -> bool:
    """True when the heartbeat says the disk under the worker's home is full."""
    return heartbeat.disk_free_bytes is not None and heartbeat.disk_free_bytes < DISK_FULL_BELOW


def measure(runs: RunSet, executor_limit: int, draining: bool, home: Path) -> Heartbeat:
    """A heartbeat carrying the worker's health now."""
    held = list(runs.runs.items())
    # Every run not cleaned yet counts for the log sizes: a run that ended may still be streaming.
    return Heartbeat(
        running=[run_id for run_id, run in held if not run.is_final],
        executor_limit=executor_limit,
        draining=draining,
        disk_free_bytes=_disk_free(home),
        load_average=_load_average(),
        log_sizes={run_id: run.dir.log_size() for run_id, run in held},
    )


def _disk_free(home: Path) -> int | None:
    try:
        return shutil.disk_usage(home).free
    except OSError:  # the home vanished or is unreadable: say so by omission, the master alerts on it
        return None


def _load_average() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:  # not every platform has it
        return None


def document(heartbeat: Heartbeat, connected: bool, master: str, worker_id: str) -> dict[str, Any]:
    """The JSON body of `GET /health`."""
    full = disk_full(heartbeat)
    if heartbeat.draining:
        status = "draining"
    elif connected and full:
        status = "degraded"  # serving, but the runs' logs wait for space (the executors retry)
    elif connected:
        status = "ok"
    else:
        status = "disconnected"
    return {
        "status": status,
        "connected": connected,
        "draining": heartbeat.draining,
        "worker": worker_id,
        "master": master,
        "running": len(heartbeat.running),
        "executor_limit": heartbeat.executor_limit,
        "disk_free_bytes": heartbeat.disk_free_bytes,
        "disk": "full" if full else "ok",
        "load_average": heartbeat.load_average,
        "log_bytes": heartbeat.log_sizes,
    }


class HealthServer:
    """`GET /health` on a local port; `report` builds the body (its `connected` sets the status)."""

    def __init__(self, host: str, port: int, report: Report) -> None:
        self.host = host
        self.port = port
        self._report = report
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Listen (raises OSError when the port is taken: the operator asked for that port)."""
        self._server = await asyncio.start_server(self._handle, self.host, self.port, limit=MAX_HEAD)
        self.port = self._server.sockets[0].getsockname()[1]
        logger.info("health endpoint on http://%s:%d/health", self.host, self.port)

    async def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
            except asyncio.LimitOverrunError:
                await self._problem(writer, 400, "bad-request", "Bad request", "request head too large")
                return
            except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                return  # the client went away or never spoke: nothing to answer
            status, body, media_type, extra = self._route(head)
            await _respond(writer, status, body, media_type, extra, with_body=not head.startswith(b"HEAD "))
        except Exception:  # a probe must never take the worker down
            logger.exception("health endpoint: request failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _route(self, head: bytes) -> tuple[int, bytes, str, dict[str, str]]:
        parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return _problem_body(400, "bad-request", "Bad request", "not an HTTP/1.x request line")
        method, target = parts[0], parts[1]
        if target.split("?", 1)[0] != "/health":
            return _problem_body(404, "not-found", "Not found", "the worker serves only GET /health")
        if method not in ("GET", "HEAD"):
            status, body, media_type, _ = _problem_body(405, "method-not-allowed", "Method not allowed", method)
            return status, body, media_type, {"Allow": "GET, HEAD"}
        report = self._report()
        return (200 if report["connected"] else 503), json.dumps(report).encode(), "application/json", {}

    async def _problem(self, writer: asyncio.StreamWriter, status: int, slug: str, title: str, detail: str) -> None:
        status, body, media_type, extra = _problem_body(status, slug, title, detail)
        await _respond(writer, status, body, media_type, extra)


def _problem_body(status: int, slug: str, title: str, detail: str) -> tuple[int, bytes, str, dict[str, str]]:
    body = Problem.of(slug, title, status, detail).model_dump_json(exclude_none=True).encode()
    return status, body, PROBLEM_MEDIA_TYPE, {}


async def _respond(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    media_type: str,
    extra: dict[str, str],
    with_body: bool = True,
) -> None:
    headers = {
        "Content-Type": media_type,
        "Content-Length": str(len(body)),
        "Cache-Control": "no-store",
        "Connection": "close",
        **extra,
    }
    lines = [f"HTTP/1.1 {status} {REASONS[status]}", *(f"{key}: {value}" for key, value in headers.items())]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body if with_body else b""))
    await writer.drain()
