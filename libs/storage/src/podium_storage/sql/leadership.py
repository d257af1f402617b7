"""The PostgreSQL leadership: a session-level advisory lock on a connection of its own."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from podium_storage.leadership import LEADER_LOCK, Leadership

logger = logging.getLogger(__name__)

CHECK_TIMEOUT = 5.0
"""Seconds the lock connection has to answer a check; a silent one counts as lost."""

_TRY = text("SELECT pg_try_advisory_lock(:key)")
_CHECK = text("SELECT 1")


class AdvisoryLeadership(Leadership):
    """Leads while holding `pg_try_advisory_lock(LEADER_LOCK)` on its own connection.

    The connection is outside the storage's pool (which it would otherwise hold one of for
    good) and runs in autocommit: the lock belongs to the session, not to a transaction.
    """

    shared = True

    def __init__(self, url: URL) -> None:
        self._engine: AsyncEngine = create_async_engine(url, poolclass=NullPool)
        self._connection: AsyncConnection | None = None
        self._held = False
        """True once the lock was taken on `_connection` (a follower keeps its connection too)."""

    async def acquire(self) -> bool:
        """Try the lock once; False when another master holds it or the database is away."""
        try:
            if self._connection is None:
                connection = await self._engine.connect()
                self._connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            taken = bool(await asyncio.wait_for(self._connection.scalar(_TRY, {"key": LEADER_LOCK}), CHECK_TIMEOUT))
        except Exception as exc:  # the database is away: try again at the next tick
            logger.debug("leadership not tried (database unavailable): %s", exc)
            await self._drop()
            return False
        self._held = taken
        return taken  # a follower keeps its connection for the next try

    async def holds(self) -> bool:
        """True while the lock connection answers (the server keeps the lock with it)."""
        if self._connection is None or not self._held:
            return False
        try:
            await asyncio.wait_for(self._connection.scalar(_CHECK), CHECK_TIMEOUT)
        except Exception as exc:
            logger.warning("leadership lost: its database connection failed: %s", exc)
            await self._drop()
            return False
        return True

    async def release(self) -> None:
        """Close the lock connection (the server frees the lock with it) and the engine."""
        await self._drop()
        await self._engine.dispose()

    async def _drop(self) -> None:
        self._held = False
        connection, self._connection = self._connection, None
        if connection is None:
            return
        await close_quietly(connection, "lock")  # the server frees the lock with the session


async def close_quietly(connection: AsyncConnection, what: str) -> None:
    """Close a connection of its own (the lock's, the wake-ups'); a broken one is invalidated.

    The server ends the session, and with it what the session held (a lock, a LISTEN), either way.
    """
    try:
        await asyncio.wait_for(connection.close(), CHECK_TIMEOUT)
    except Exception as exc:  # broken already: the server ends the session itself
        logger.debug("%s connection not closed cleanly: %s", what, exc)
        with contextlib.suppress(Exception):
            await connection.invalidate()
