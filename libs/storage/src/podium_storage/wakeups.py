"""Wake-ups among the masters of one database: a new pending run, wherever it was created.

A master dispatches at once the runs it creates itself (schedules, retries, pipeline
elements) and those the api tells it of (`/control/dispatch`). With several masters on one
database, the others would see such a run only at their next sweep (`--sweep-interval`).
On PostgreSQL every insert into `runs` notifies the channel `RUNS_CHANNEL` in its own
transaction (a statement-level trigger, migration 0015: no statement more, no round trip
more), and every master listens on it (`podium_storage.sql.wakeups`): a notification wakes
the master's dispatcher as its own new run would. SQLite is served by one master and
MongoDB keeps the sweep (`NoWakeups`).
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable

RUNS_CHANNEL = "podium_runs"
"""The PostgreSQL channel notified, once per transaction, when runs were inserted (payload empty)."""

Woken = Callable[[], None]
"""What a wake-up calls: the master's `wake` (cheap, coalescing: a burst wakes it once or twice)."""


class Wakeups(abc.ABC):
    """This master's ear for the runs other processes create."""

    @abc.abstractmethod
    async def run_forever(self, woken: Woken) -> None:
        """Call `woken` whenever runs were created, until cancelled (which releases what it holds)."""


class NoWakeups(Wakeups):
    """No wake-ups: one master serves the database (SQLite), or the sweep finds new runs (MongoDB)."""

    async def run_forever(self, woken: Woken) -> None:
        """Wait until cancelled."""
        await asyncio.Event().wait()
