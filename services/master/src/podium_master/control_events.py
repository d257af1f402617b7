"""The `/control/events` websocket: the master's events, as JSON arrays in text frames.

A frame is a list of `podium_model.control.MasterEvent`, dumped in one call.

Each frame carries every event queued when it is sent (one or more, in publication order): a
burst of run changes costs one frame and one write, not one per event.

The api holds one such connection per process and fans the events out to its clients. A
subscriber that falls behind is dropped by the hub; the socket then closes with code 1013
(try again later) so the api reconnects and re-reads what it shows from storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.websockets import WebSocket, WebSocketDisconnect

from podium_master.events import EventHub, Overflow, Subscription
from podium_model.control import events_adapter

logger = logging.getLogger(__name__)

CLOSE_TRY_AGAIN = 1013


async def _until_closed(websocket: WebSocket) -> None:
    """Read (and ignore) what the subscriber sends until it closes the connection."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


async def _forward(subscription: Subscription, websocket: WebSocket) -> None:
    try:
        while True:
            events = await subscription.batch()
            # One turn of the loop, no timer: the messages already read from the workers publish
            # their events first, and the frame carries them all.
            await asyncio.sleep(0)
            events += subscription.pending()
            await websocket.send_text(events_adapter.dump_json(events).decode())
    except Overflow:
        logger.warning("events subscriber %s fell behind: closing with %d", websocket.client, CLOSE_TRY_AGAIN)
        with contextlib.suppress(RuntimeError, OSError):
            await websocket.close(CLOSE_TRY_AGAIN, "fell behind: reconnect and re-read")
    finally:
        subscription.close()


async def stream_events(events: EventHub, websocket: WebSocket) -> None:
    """Accept `websocket` and send it every event from now on, until it closes or falls behind."""
    subscription = events.subscribe()  # before accepting: the subscriber misses nothing after it connected
    try:
        await websocket.accept()
    except BaseException:
        subscription.close()
        raise
    forward = asyncio.create_task(_forward(subscription, websocket), name="events forward")
    closed = asyncio.create_task(_until_closed(websocket), name="events receive")
    try:
        await asyncio.wait({forward, closed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (forward, closed):
            task.cancel()
        for task in (forward, closed):
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError, OSError):
                await task
