"""A rogue worker client: raw websocket access to the master for protocol tests."""

from __future__ import annotations

import base64
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.stack import Stack


def credentials(user: str, token: str, worker_id: str = "rogue") -> dict[str, str]:
    """Upgrade headers carrying `user:token` and the worker id."""
    basic = base64.b64encode(f"{user}:{token}".encode()).decode()
    return {"Authorization": f"Basic {basic}", "X-Podium-Worker-Id": worker_id}


def ws_url(stack: Stack) -> str:
    """The master's worker websocket."""
    return f"ws://127.0.0.1:{stack.master_port}/ws/worker"


def open_worker(stack: Stack, worker_id: str = "rogue", token: str | None = None) -> Any:
    """Connect as a worker (an async context manager yielding the connection)."""
    return connect(ws_url(stack), additional_headers=credentials("workers", token or stack.worker_token, worker_id))


async def answer_setup(ws: ClientConnection, properties: dict[str, str] | None = None, limit: int = 1) -> None:
    """Answer the master's `describe` and `list` like a well-behaved idle worker."""
    for _ in range(2):
        message = json.loads(await ws.recv())
        if message["type"] == "describe":
            result: dict[str, Any] = {"properties": properties or {}, "executor_limit": limit}
        else:
            assert message["type"] == "list", message
            result = {"runs": []}
        await ws.send(json.dumps({"type": "response", "v": 1, "id": message["id"], "result": result}))
