"""The PostgreSQL wake-ups: `LISTEN podium_runs` on a connection of its own, reconnected with back-off."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from podium_storage.sql.leadership import close_quietly
from podium_storage.wakeups import RUNS_CHANNEL, Wakeups, Woken

logger = logging.getLogger(__name__)

CHECK_INTERVAL = 5.0
"""Seconds between checks that the listening connection still answers (a silent network loss
shows no other way); a notification never waits for it."""
CHECK_TIMEOUT = 5.0
"""Seconds the listening connection has to answer a check; a silent one is reconnected."""
RECONNECT_FIRST = 0.5
"""Seconds before the first reconnection, doubled per failure up to `RECONNECT_MAX`."""
RECONNECT_MAX = 30.0

_CHECK = text("SELECT 1")


class NotifyWakeups(Wakeups):
    """Listens on `RUNS_CHANNEL` on a connection outside the storage's pool (which it would hold for good).

    Each (re)connection calls `woken` once it listens: runs created while it did not were
    not announced to it. A connection that breaks (the termination callback) or stops
    answering a check is dropped and opened again after `RECONNECT_FIRST` seconds, doubling
    up to `RECONNECT_MAX` while it fails; meanwhile the master's sweep still finds every run.
    """

    def __init__(self, url: URL) -> None:
        self._engine: AsyncEngine = create_async_engine(url, poolclass=NullPool)

    async def run_forever(self, woken: Woken) -> None:
        """Listen until cancelled; reconnect with back-off whenever the connection is lost."""
        delay = RECONNECT_FIRST
        try:
            while True:
                listened = await self._listen(woken)
                delay = RECONNECT_FIRST if listened else min(delay * 2, RECONNECT_MAX)
                await asyncio.sleep(delay)  # a back-off, not a poll: the sweep covers the gap
        finally:
            await self._engine.dispose()

    async def _listen(self, woken: Woken) -> bool:
        """One connection's life: True when it listened before it was lost, False when it never did."""
        lost = asyncio.Event()
        connection: AsyncConnection | None = None
        listening = False
        try:
            connection = await self._engine.connect()
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            raw = (await connection.get_raw_connection()).driver_connection
            assert raw is not None

            def notified(*_: Any) -> None:  # (connection, pid, channel, payload): any says "look"
                woken()

            await raw.add_listener(RUNS_CHANNEL, notified)
            raw.add_termination_listener(lambda *_: lost.set())
            listening = True
            logger.info("listening for new runs on channel %s", RUNS_CHANNEL)
            woken()  # runs created while nobody listened here were announced to no one
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), CHECK_INTERVAL)
                    break
                await asyncio.wait_for(connection.scalar(_CHECK), CHECK_TIMEOUT)
            logger.warning("wake-up connection lost: listening again")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database is away or the connection broke: reconnect after the back-off
            logger.warning("wake-up connection %s: %s", "lost" if listening else "not opened", exc)
        finally:
            if connection is not None:
                await close_quietly(connection, "wake-up")
        return listening
