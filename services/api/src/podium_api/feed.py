"""The master's change feed, held once per api process and fanned out to the live streams.

One task keeps a websocket to the master's `GET /control/events` (with the control secret),
reconnecting with a capped exponential backoff. Every event the master sends
(`podium_model.control.MasterEvent`: `run`, `worker`, `log`; see docs/architecture.md "Live
streams"), validated once per frame as it arrives, is offered to each subscriber whose filter
accepts it. Subscribers are the SSE streams: they never poll storage while the feed is up.

Events can be missed (before a connection, during an outage, or when a subscriber's queue
fills), so subscribers receive `RESYNC` whenever the connection comes up or goes down and
when their queue overflowed: they then re-read what they need from storage. While the feed
is down they also re-check storage every `fallback` seconds, so a stream still ends.

An `https://` master's feed is `wss://`, verified like the control calls (system store or
`--master-ca-file`); a refused certificate is logged at error level with its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

from pydantic import ValidationError
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from podium_api.control import SECRET_HEADER
from podium_model import transport
from podium_model.control import MasterEvent, event_adapter, events_adapter

logger = logging.getLogger(__name__)

Event = MasterEvent
T = TypeVar("T")


class Marker:
    """A signal a subscription answers instead of an event (`RESYNC`, `TIMEOUT`)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


RESYNC: Final = Marker("RESYNC")
"""Events may have been missed: re-read state from storage."""
TIMEOUT: Final = Marker("TIMEOUT")
"""Nothing arrived within the wait."""

QUEUE_SIZE = 1000


class Subscription:
    """One stream's bounded queue of events (filtered at publication)."""

    def __init__(self, feed: MasterFeed, accepts: Callable[[Event], bool] | None) -> None:
        self._feed = feed
        self._accepts = accepts
        self._queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)
        self._resync = asyncio.Event()

    def _offer(self, event: Event) -> None:
        if self._accepts is not None and not self._accepts(event):
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self._queue = asyncio.Queue(QUEUE_SIZE)  # what is queued is stale: start over from storage
            self._resync.set()

    def _flag_resync(self) -> None:
        self._resync.set()

    async def next(self, timeout: float) -> Event | Marker:
        """The next event, `RESYNC`, or `TIMEOUT` after `timeout` seconds of silence."""
        if self._resync.is_set():
            self._resync.clear()
            return RESYNC
        if not self._queue.empty():
            return self._queue.get_nowait()
        getter = asyncio.ensure_future(self._queue.get())
        flagged = asyncio.ensure_future(self._resync.wait())
        try:
            await asyncio.wait({getter, flagged}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (getter, flagged):
                if not waiter.done():
                    waiter.cancel()
        if getter.done() and not getter.cancelled():
            return getter.result()
        if self._resync.is_set():
            self._resync.clear()
            return RESYNC
        return TIMEOUT

    def pending(self) -> list[Event]:
        """The events queued now, without waiting (a stream sends them together)."""
        events = []
        while not self._queue.empty():
            events.append(self._queue.get_nowait())
        return events

    def close(self) -> None:
        """Stop receiving events."""
        self._feed._subscribers.discard(self)


class MasterFeed:
    """The one websocket to the master's event feed of this process, and its subscribers."""

    def __init__(
        self,
        master_url: str,
        secret: str,
        fallback: float = 5.0,
        max_backoff: float = 5.0,
        ca_file: str | os.PathLike[str] | None = None,
    ) -> None:
        base = master_url.rstrip("/")
        scheme, _, rest = base.partition("://")
        self.url = f"{'wss' if scheme == 'https' else 'ws'}://{rest}/control/events"
        self._tls = transport.client_context(ca_file) if scheme == "https" else None
        self._trusted = os.fspath(ca_file) if ca_file is not None else "the system certificate store"
        self.fallback = fallback
        self._secret = secret
        self._max_backoff = max_backoff
        self._subscribers: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self.connected = False
        self.connections = 0
        """How many times the feed has connected (for tests and service information)."""

    def subscribe(self, accepts: Callable[[Event], bool] | None = None) -> Subscription:
        """A new subscription receiving the events `accepts` (all when None); close it when done."""
        subscription = Subscription(self, accepts)
        self._subscribers.add(subscription)
        return subscription

    @property
    def subscribers(self) -> int:
        """How many live streams follow the feed now."""
        return len(self._subscribers)

    @property
    def wait_timeout(self) -> float | None:
        """How long a subscriber may wait before re-checking storage itself (None: no need)."""
        return None if self.connected else self.fallback

    def publish(self, event: Event) -> None:
        """Offer `event` to every subscriber (the feed's own receive loop calls this)."""
        for subscription in list(self._subscribers):
            subscription._offer(event)

    def _resync_all(self) -> None:
        for subscription in list(self._subscribers):
            subscription._flag_resync()

    def start(self) -> None:
        """Start the connection task."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="master event feed")

    async def close(self) -> None:
        """Stop the connection task."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        backoff = 0.1
        warned = False
        while True:
            try:
                async with connect(
                    self.url,
                    additional_headers={SECRET_HEADER: self._secret},
                    open_timeout=5,
                    max_size=2**24,
                    # No per-message deflate: api and master sit side by side, and compressing
                    # every frame of a busy feed cost both more CPU than the bytes it saved.
                    compression=None,
                    ssl=self._tls,
                ) as websocket:
                    self.connected = True
                    self.connections += 1
                    backoff, warned = 0.1, False
                    logger.info("following the master's events at %s", self.url)
                    self._resync_all()
                    async for message in websocket:
                        self._receive(message)
                logger.warning("the master closed its event feed; reconnecting")
            except ssl.SSLError as exc:
                if not warned:
                    reason = transport.describe_tls_failure(exc, "the master")
                    logger.error("event feed at %s refused: %s (trusting %s)", self.url, reason, self._trusted)
                    warned = True
                else:
                    logger.debug("event feed still refused: %s", exc)
            except (OSError, WebSocketException, TimeoutError) as exc:
                if not warned:
                    logger.warning("no event feed from the master at %s (%s); retrying", self.url, exc)
                    warned = True
                else:
                    logger.debug("event feed still down: %s", exc)
            finally:
                if self.connected:
                    self.connected = False
                    self._resync_all()
            await asyncio.sleep(backoff)  # backoff between reconnection attempts
            backoff = min(backoff * 2, self._max_backoff)

    def _receive(self, message: str | bytes) -> None:
        """Publish the events of one frame: a JSON array of events (an older master: one object)."""
        try:
            events = events_adapter.validate_json(message)
        except ValidationError:
            events = _salvage(message)
        for event in events:
            self.publish(event)


def _salvage(message: str | bytes) -> list[Event]:
    """The valid events of a frame that did not validate whole; each malformed one is logged."""
    try:
        items = json.loads(message)
    except ValueError:
        logger.warning("ignoring a malformed event frame from the master")
        return []
    events = []
    for item in items if isinstance(items, list) else [items]:
        try:
            events.append(event_adapter.validate_python(item))
        except ValidationError as exc:
            logger.warning("ignoring a malformed event from the master: %s", exc.errors()[0]["msg"])
    return events


async def shielded(operation: Awaitable[T]) -> T:
    """Await `operation` in its own task, so a client disconnect cannot cancel it midway.

    Cancelling a database call inside a pool checkout makes SQLAlchemy log "Exception during
    reset"; the streams' storage calls go through here, and a cancelled caller leaves the
    call to finish on its own (its outcome is then ignored).
    """
    task = asyncio.ensure_future(operation)
    task.add_done_callback(_consume)
    return await asyncio.shield(task)


def _consume(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()
