"""The singletons of a database's masters: the scheduler and retention run on the leader only.

The leader is the master holding `storage.leadership()`: on PostgreSQL an advisory lock on
a connection of its own (`podium_storage.sql.leadership`), on MongoDB a lease document
(`podium_storage.mongo.leadership`), on SQLite always the one master. Every
`leader_interval` seconds (1 by default) a follower tries to lead and the leader checks it
still does; nothing of this is on a run's path. A leader killed frees the lock with its
connection, so another master leads within about one interval (MongoDB: once the lease
expires); ticks due meanwhile collapse into one (`schedules`), and a schedule's tick is
claimed by a compare-and-set in storage, so two masters that both believe they lead for a
moment still fire it once. A single-master backend starts the singletons at once and runs
no timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from podium_storage.leadership import Leadership

logger = logging.getLogger(__name__)

Singletons = Callable[[], list[tuple[str, Coroutine[Any, Any, None]]]]
"""Builds the leader's tasks afresh (name, coroutine), each time this master comes to lead."""


class Leader:
    """Runs the singletons while this master leads, and stops them once it no longer does.

    Args:
        leadership: this master's claim (`Storage.leadership()`).
        singletons: the tasks of the leader, built each time leadership is won.
        interval: seconds between tries (follower) or checks (leader).
        master_id: this master's id, for the logs.
        changed: told True when this master comes to lead, False when it stops (the metric).
    """

    def __init__(
        self,
        leadership: Leadership,
        singletons: Singletons,
        interval: float,
        master_id: str,
        changed: Callable[[bool], None] | None = None,
    ) -> None:
        self.changed = changed
        self.leadership = leadership
        self.singletons = singletons
        self.interval = interval
        self.master_id = master_id
        self._tasks: list[asyncio.Task[None]] = []
        self.leading = False
        """True while this master runs the singletons."""

    async def run_forever(self) -> None:
        """Lead when possible, follow otherwise, until cancelled (which stops the singletons and releases)."""
        try:
            if not self.leadership.shared:
                self._lead()
                await asyncio.Event().wait()  # the one master leads for good
            while True:
                if not self.leading:
                    if await self.leadership.acquire():
                        logger.info("master %s leads: it runs the schedules and retention", self.master_id)
                        self._lead()
                elif not await self.leadership.holds():
                    logger.warning("master %s no longer leads: schedules and retention stopped", self.master_id)
                    await self._follow()
                await asyncio.sleep(self.interval)
        finally:
            await self._follow()
            with contextlib.suppress(Exception):
                await self.leadership.release()

    def _lead(self) -> None:
        self.leading = True
        if self.changed is not None:
            self.changed(True)
        self._tasks = [asyncio.create_task(coroutine, name=name) for name, coroutine in self.singletons()]

    async def _follow(self) -> None:
        if self.leading and self.changed is not None:
            self.changed(False)
        self.leading = False
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
