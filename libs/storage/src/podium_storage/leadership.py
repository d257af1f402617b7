"""Leadership among the masters of one database: who runs the singletons (schedules, retention).

On PostgreSQL several masters may share a database; the leader is the one holding a
session-level advisory lock (`pg_try_advisory_lock(LEADER_LOCK)`) on a connection of its
own, outside the pool. The lock lasts as long as that connection: a leader that dies, is
killed or loses the network frees it as soon as the server sees the connection close, and
another master takes it at its next try. On MongoDB the leader holds a lease document it
renews (`mongo.leadership`). On SQLite a single master serves a database: it always leads
(`SoleLeadership`), and no timer runs at all.
"""

from __future__ import annotations

import abc

LEADER_LOCK = 0x706F6469756D4C  # b"podiumL" read as an integer (migrations lock b"podium")
"""The advisory lock key of the masters' leadership (one per database: PostgreSQL scopes them so)."""


class Leadership(abc.ABC):
    """This master's claim to lead; `shared` says whether other masters may compete for it."""

    shared: bool = False
    """True when several masters may serve the database, so leadership is tried on a timer."""

    @abc.abstractmethod
    async def acquire(self) -> bool:
        """Try to lead, without waiting; True when this master leads now."""

    @abc.abstractmethod
    async def holds(self) -> bool:
        """Whether this master still leads (a leader whose lock connection broke no longer does)."""

    @abc.abstractmethod
    async def release(self) -> None:
        """Stop leading (the master is stopping); idempotent."""


class SoleLeadership(Leadership):
    """The one master of a database that only one master serves: always the leader."""

    async def acquire(self) -> bool:
        """Always True."""
        return True

    async def holds(self) -> bool:
        """Always True."""
        return True

    async def release(self) -> None:
        """Nothing to release."""
