"""A fake master for protocol tests of a real worker process: a websocket server playing the master's side."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, TypeVar

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from podium_model import CommandsDefinition
from podium_model.messages import RunRequest, worker_message_adapter

T = TypeVar("T")


class FakeMaster:
    """A websocket server playing the master's side of the protocol, one worker connection at a time."""

    def __init__(self) -> None:
        self.frames: asyncio.Queue[str | bytes] = asyncio.Queue()
        self.connection: ServerConnection | None = None
        self.connected = asyncio.Event()

    async def handler(self, connection: ServerConnection) -> None:
        """Keep the connection and queue every frame the worker sends."""
        self.connection = connection
        self.connected.set()
        with contextlib.suppress(ConnectionClosed):
            async for frame in connection:
                await self.frames.put(frame)

    async def send(self, message: Any) -> None:
        """Send a protocol message to the worker."""
        assert self.connection is not None
        await self.connection.send(message.model_dump_json())

    async def next_message(self, kind: type[T], timeout: float = 30.0) -> T:
        """The next text message of type `kind` (log chunks and other messages are skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.frames.get()
                if isinstance(frame, str):
                    message = worker_message_adapter.validate_json(frame)
                    if isinstance(message, kind):
                        return message


def request(run_id: str, command: str) -> RunRequest:
    """A run of one shell command."""
    return RunRequest(
        run_id=run_id, project="p", job="j", definition=CommandsDefinition(commands=[["sh", "-c", command]])
    )
