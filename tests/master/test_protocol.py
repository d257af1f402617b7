"""The worker websocket against a real master: authentication and protocol errors."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.master.rogue import answer_setup, credentials, open_worker, ws_url
from tests.stack import Stack, admin


async def _refused(stack: Stack, headers: dict[str, str]) -> None:
    with pytest.raises(InvalidStatus) as caught:
        async with connect(ws_url(stack), additional_headers=headers):
            pass
    assert caught.value.response.status_code == 403


async def test_upgrade_without_credentials_is_refused(stack: Stack) -> None:
    """No Authorization header: the upgrade is refused with 403."""
    await _refused(stack, {"X-Podium-Worker-Id": "w1"})


async def test_upgrade_with_bad_token_is_refused(stack: Stack) -> None:
    """A wrong token, a wrong user or a bad worker id: the upgrade is refused."""
    await _refused(stack, credentials("workers", "not-a-token"))
    await _refused(stack, credentials("admin", stack.worker_token))
    await _refused(stack, credentials("workers", stack.worker_token, worker_id="../etc"))
    await _refused(stack, {"Authorization": "Basic !!!", "X-Podium-Worker-Id": "w1"})


async def test_upgrade_of_user_without_worker_role_is_refused(stack: Stack) -> None:
    """A valid token of a user who lacks the worker role is refused."""
    token = admin(stack.database_url, "create-token", "admin")
    await _refused(stack, credentials("admin", token))


async def _expect_protocol_error(ws: object, payload: str | bytes) -> dict[str, object]:
    await ws.send(payload)  # type: ignore[attr-defined]
    message = json.loads(await ws.recv())  # type: ignore[attr-defined]
    assert message["type"] == "error", message
    with pytest.raises(ConnectionClosed) as closed:
        await ws.recv()  # type: ignore[attr-defined]
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
    return message


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        json.dumps({"type": "launch-missiles", "v": 1}),
        json.dumps({"type": "heartbeat", "v": 99}),
        json.dumps({"type": "response", "v": 1, "id": 12345, "result": {}}),
        json.dumps({"type": "status", "v": 1, "state": {"run_id": "nope", "status": "succeeded", "log_size": 0}}),
        b'{"run_id":"nope","offset":0}\nhello',
        b"no header at all",
        "x" * (3 << 20),  # over --max-message-size (2 MiB), under the websocket's own limit
    ],
    ids=[
        "invalid-json",
        "unknown-type",
        "wrong-version",
        "unknown-response",
        "foreign-status",
        "foreign-log",
        "bad-frame",
        "oversized",
    ],  # fmt: skip
)
async def test_protocol_violation_gets_error_and_close_4400(stack: Stack, payload: str | bytes) -> None:
    """Malformed, unknown, oversized or out-of-order messages: an error, close 4400, master still serves."""
    async with open_worker(stack, "good") as good:
        await answer_setup(good)
        async with open_worker(stack, "rogue") as rogue:
            await answer_setup(rogue)
            await _expect_protocol_error(rogue, payload)
        await good.send(json.dumps({"type": "heartbeat", "v": 1}))
        await good.ping()
        assert good.close_code is None
    async with open_worker(stack, "rogue") as again:
        await answer_setup(again)


async def test_second_connection_replaces_first(stack: Stack) -> None:
    """A new connection for the same worker id closes the old one with 4409."""
    async with open_worker(stack, "twin") as first:
        await answer_setup(first)
        async with open_worker(stack, "twin") as second:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(first.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4409
            await answer_setup(second)
