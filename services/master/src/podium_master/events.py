"""The master's event hub: every run, worker and log change, fanned out to subscribers.

Publishers (the one run-transition function, worker sessions, log appends) call `publish`,
which never blocks and never fails: each subscriber has a bounded queue, and a subscriber
that falls that far behind is dropped (it sees `Overflow` and must resubscribe and re-read
what it needs from storage). Subscribers are the api's `/control/events` websockets and,
inside the master, the pipeline engine.

Events are the models of `podium_model.control` (`RunChanged`, `WorkerChanged`, `LogGrew`),
the contract the api reads on `/control/events` (see docs/architecture.md). They are built
with `model_construct` from the models the master holds: a run change validates nothing
again, and is serialized once per subscriber socket, in one call for a whole frame.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from podium_model import Run, Worker
from podium_model.control import LogGrew, MasterEvent, RunChanged, WorkerChanged

logger = logging.getLogger(__name__)

Event = MasterEvent


class Overflow(Exception):
    """The subscriber fell too far behind and was dropped."""


class Subscription:
    """One subscriber's queue; iterate it to receive events in publication order."""

    def __init__(self, hub: EventHub, size: int) -> None:
        self._hub = hub
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(size)
        self.overflowed = False

    def _offer(self, event: Event) -> bool:
        try:
            self._queue.put_nowait(event)
            return True
        except asyncio.QueueFull:
            self.overflowed = True
            return False

    async def get(self) -> Event:
        """The next event.

        Raises:
            Overflow: the subscriber fell behind and was dropped.
        """
        event = await self._queue.get()
        if event is None:
            raise Overflow("event subscriber fell behind")
        return event

    async def batch(self) -> list[Event]:
        """The next event and every other one already queued (at least one event).

        Its one suspension is waiting for the first event: cancelled, it loses none.

        Raises:
            Overflow: the subscriber fell behind and was dropped.
        """
        return [await self.get(), *self.pending()]

    def pending(self) -> list[Event]:
        """The events queued now, without waiting.

        Raises:
            Overflow: the subscriber fell behind and was dropped.
        """
        events: list[Event] = []
        while not self._queue.empty():
            event = self._queue.get_nowait()
            if event is None:
                raise Overflow("event subscriber fell behind")
            events.append(event)
        return events

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            yield await self.get()

    def close(self) -> None:
        """Stop receiving events."""
        self._hub._subscribers.discard(self)


class EventHub:
    """Fans out events to every subscriber, in order, without blocking publishers."""

    def __init__(self, queue_size: int = 10_000) -> None:
        self._subscribers: set[Subscription] = set()
        self._queue_size = queue_size

    def subscribe(self) -> Subscription:
        """A new subscription; close it when done."""
        subscription = Subscription(self, self._queue_size)
        self._subscribers.add(subscription)
        return subscription

    def publish(self, event: Event) -> None:
        """Offer `event` to every subscriber; drop the ones whose queue is full."""
        for subscription in list(self._subscribers):
            if not subscription._offer(event):
                logger.warning("dropping an event subscriber that fell %d events behind", self._queue_size)
                self._subscribers.discard(subscription)
                # Make room for the marker that tells the subscriber it was dropped.
                while not subscription._queue.empty():
                    subscription._queue.get_nowait()
                subscription._queue.put_nowait(None)

    def run_changed(self, run: Run) -> None:
        """Publish a run's new state."""
        self.publish(RunChanged.model_construct(kind="run", run=run))

    def worker_changed(self, worker: Worker) -> None:
        """Publish a worker's new state."""
        self.publish(WorkerChanged.model_construct(kind="worker", worker=worker))

    def log_grew(self, project: str, run_id: str, size: int) -> None:
        """Publish that the log store holds `size` bytes of a run's log."""
        self.publish(LogGrew.model_construct(kind="log", project=project, run_id=run_id, size=size))
