"""A stand-in for the master's control API that records the calls the api makes.

It is a real HTTP server on a free loopback port (uvicorn in a thread), not a mock: the api
talks to it over a socket exactly as it talks to the master.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support import free_port, wait_until


@dataclass(frozen=True)
class Call:
    """One control call: method, path and the secret header sent."""

    method: str
    path: str
    secret: str | None


class RecordingMaster:
    """Answers `GET /health` and every `POST /control/...`, keeping the calls in order."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.calls: list[Call] = []

        async def health(request: Request) -> Response:
            return JSONResponse({"status": "ok"})

        async def control(request: Request) -> Response:
            self.calls.append(Call(request.method, request.url.path, request.headers.get("x-podium-control-secret")))
            return JSONResponse({"ok": True})

        app = Starlette(routes=[Route("/health", health), Route("/control/{rest:path}", control, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> RecordingMaster:
        """Start serving and wait until the port listens."""
        self.thread.start()
        wait_until(lambda: self.server.started, 10, "recording master")
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.server.should_exit = True
        self.thread.join(10)

    def wait_call(self, path: str, timeout: float = 10.0) -> Call:
        """Wait until a call to `path` arrives; return it."""
        return wait_until(
            lambda: next((call for call in self.calls if call.path == path), None), timeout, f"master call {path}"
        )
