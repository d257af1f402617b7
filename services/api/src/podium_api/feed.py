"""The masters' change feed, held once per api process and fanned out to the live streams.

One task per master keeps a websocket to its `GET /control/events` (with the control secret),
reconnecting with a capped exponential backoff of its own. Every event a master sends
(`podium_model.control.MasterEvent`: `run`, `worker`, `log`; see docs/architecture.md "Live
streams"), validated once per frame as it arrives, is offered to each subscriber whose filter
accepts it. Subscribers are the SSE streams: they never poll storage while the feed is up.

Events can be missed (before a connection, during an outage, or when a subscriber's queue
fills), so subscribers receive `RESYNC` whenever any master's connection comes up or goes
down and when their queue overflowed: they then re-read what they need from storage. While
any master's feed is down they also re-check storage every `fallback` seconds, so a stream
still ends.

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
from collections.abc import Awaitable, Callable, Sequence
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
    """The websockets to every master's event feed of this process, and their subscribers.

    One connection per master (`follow`), each with its own reconnection backoff; their events
    merge into one stream for the subscribers. Each master publishes the changes it makes, so
    an event arrives once, from the master that made it.
    """

    def __init__(
        self,
        master_url: str | Sequence[str] = (),
        secret: str = "",
        fallback: float = 5.0,
        max_backoff: float = 5.0,
        ca_file: str | os.PathLike[str] | None = None,
    ) -> None:
        self._initial = [master_url] if isinstance(master_url, str) else list(master_url)
        self._ca_file = ca_file
        self._trusted = os.fspath(ca_file) if ca_file is not None else "the system certificate store"
        self.fallback = fallback
        self._secret = secret
        self._max_backoff = max_backoff
        self._subscribers: set[Subscription] = set()
        self._links: dict[str, _Link] = {}
        self._started = False
        self.connections = 0
        """How many times the feed has connected, to any master (for tests and service information)."""

    @property
    def connected(self) -> bool:
        """True while the feed of every master followed is connected (none followed: False)."""
        return bool(self._links) and all(link.connected for link in self._links.values())

    @property
    def urls(self) -> list[str]:
        """The base URLs of the masters followed."""
        return list(self._links)

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
        """Offer `event` to every subscriber (the connections' receive loops call this)."""
        for subscription in list(self._subscribers):
            subscription._offer(event)

    def _resync_all(self) -> None:
        for subscription in list(self._subscribers):
            subscription._flag_resync()

    def start(self) -> None:
        """Start a connection to each master given at construction."""
        self._started = True
        for url in self._initial:
            self.follow(url)
        for link in self._links.values():
            link.start()  # those followed before the start

    def follow(self, master_url: str) -> None:
        """Follow one more master's feed (no-op when followed already)."""
        base = master_url.rstrip("/")
        if base in self._links:
            return
        link = _Link(self, base)
        self._links[base] = link
        if self._started:
            link.start()
        # Until it connects, that master's events may be missed: streams re-check storage.
        self._resync_all()

    async def unfollow(self, master_url: str) -> None:
        """Stop following a master's feed (a master no longer discovered)."""
        link = self._links.pop(master_url.rstrip("/"), None)
        if link is not None:
            await link.close()
            self._resync_all()

    async def close(self) -> None:
        """Stop every connection task."""
        links, self._links = list(self._links.values()), {}
        for link in links:
            await link.close()

    def _receive(self, message: str | bytes) -> None:
        """Publish the events of one frame: a JSON array of events (an older master: one object)."""
        try:
            events = events_adapter.validate_json(message)
        except ValidationError:
            events = _salvage(message)
        for event in events:
            self.publish(event)


class _Link:
    """One master's feed connection of a `MasterFeed`."""

    def __init__(self, feed: MasterFeed, base: str) -> None:
        scheme, _, rest = base.partition("://")
        self.feed = feed
        self.url = f"{'wss' if scheme == 'https' else 'ws'}://{rest}/control/events"
        self._tls = transport.client_context(feed._ca_file) if scheme == "https" else None
        self.connected = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is not None:
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"master event feed {self.url}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        feed = self.feed
        backoff = 0.1
        warned = False
        while True:
            try:
                async with connect(
                    self.url,
                    additional_headers={SECRET_HEADER: feed._secret},
                    open_timeout=5,
                    max_size=2**24,
                    # No per-message deflate: api and master sit side by side, and compressing
                    # every frame of a busy feed cost both more CPU than the bytes it saved.
                    compression=None,
                    ssl=self._tls,
                ) as websocket:
                    self.connected = True
                    feed.connections += 1
                    backoff, warned = 0.1, False
                    logger.info("following the master's events at %s", self.url)
                    feed._resync_all()
                    async for message in websocket:
                        feed._receive(message)
                logger.warning("the master at %s closed its event feed; reconnecting", self.url)
            except ssl.SSLError as exc:
                if not warned:
                    reason = transport.describe_tls_failure(exc, "the master")
                    logger.error("event feed at %s refused: %s (trusting %s)", self.url, reason, feed._trusted)
                    warned = True
                else:
                    logger.debug("event feed still refused: %s", exc)
            except (OSError, WebSocketException, TimeoutError) as exc:
                if not warned:
                    logger.warning("no event feed from the master at %s (%s); retrying", self.url, exc)
                    warned = True
                else:
                    logger.debug("event feed at %s still down: %s", self.url, exc)
            finally:
                if self.connected:
                    self.connected = False
                    feed._resync_all()
            await asyncio.sleep(backoff)  # backoff between reconnection attempts
            backoff = min(backoff * 2, feed._max_backoff)


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
