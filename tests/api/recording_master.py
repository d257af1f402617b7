"""A stand-in for the master's control API that records the calls the api makes.

It is a real HTTP server on a free loopback port (uvicorn in a thread), not a mock: the api
talks to it over a socket exactly as it talks to the master. It also serves the event feed
(`/control/events`, a websocket speaking the documented format): tests `publish` events.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from tests.support import free_port, wait_until


@dataclass(frozen=True)
class Call:
    """One control call: method, path and the secret header sent."""

    method: str
    path: str
    secret: str | None


class RecordingMaster:
    """Answers `GET /health` and every `POST /control/...`, keeping the calls in order."""

    def __init__(self, secret: str = "process-test-secret") -> None:
        self.secret = secret
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.calls: list[Call] = []
        self.feeds: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any] | None]]] = []
        self.connections = 0

        async def health(request: Request) -> Response:
            return JSONResponse({"status": "ok"})

        async def control(request: Request) -> Response:
            self.calls.append(Call(request.method, request.url.path, request.headers.get("x-podium-control-secret")))
            return JSONResponse({"ok": True})

        async def events(websocket: WebSocket) -> None:
            if websocket.headers.get("x-podium-control-secret") != self.secret:
                await websocket.close(code=1008)
                return
            await websocket.accept()
            queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
            entry = (asyncio.get_running_loop(), queue)
            self.feeds.append(entry)
            self.connections += 1
            try:
                while (event := await queue.get()) is not None:
                    await websocket.send_json(event)
                await websocket.close()
            except WebSocketDisconnect:
                pass
            finally:
                self.feeds.remove(entry)

        app = Starlette(
            routes=[
                Route("/health", health),
                WebSocketRoute("/control/events", events),
                Route("/control/{rest:path}", control, methods=["POST"]),
            ]
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> RecordingMaster:
        """Start serving and wait until the port listens."""
        self.thread.start()
        wait_until(lambda: self.server.started, 10, "recording master")
        return self

    def stop(self) -> None:
        """Stop serving (closing the event feeds first)."""
        self.drop_feeds()
        self.server.should_exit = True
        self.thread.join(10)

    def wait_call(self, path: str, timeout: float = 10.0) -> Call:
        """Wait until a call to `path` arrives; return it."""
        return wait_until(
            lambda: next((call for call in self.calls if call.path == path), None), timeout, f"master call {path}"
        )

    def publish(self, event: dict[str, Any]) -> None:
        """Send `event` to every connected event feed (callable from any thread)."""
        for loop, queue in list(self.feeds):
            loop.call_soon_threadsafe(queue.put_nowait, event)

    def drop_feeds(self) -> None:
        """Close every event feed connection (the api must reconnect)."""
        for loop, queue in list(self.feeds):
            loop.call_soon_threadsafe(queue.put_nowait, None)

    def wait_feeds(self, connections: int = 1, timeout: float = 30.0) -> None:
        """Wait until the api has connected `connections` times in all and is connected now."""
        wait_until(lambda: self.connections >= connections and self.feeds, timeout, "the api's event feed")
