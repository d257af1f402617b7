"""Contract tests of the masters' leadership: one leader per database where several masters may serve it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from podium_model import utcnow
from podium_storage import Storage, open_storage
from podium_storage.leadership import SoleLeadership


async def test_one_leader_at_a_time_and_a_released_lead_is_taken(storage: Storage, migrated_url: str) -> None:
    """Shared (PostgreSQL, MongoDB): the first claim leads, a second waits, and leads once the first is released.

    MongoDB holds a lease document the same way; SQLite, served by one master, always leads
    (`shared` False).
    """
    first = storage.leadership()
    if not first.shared:
        assert isinstance(first, SoleLeadership)
        assert await first.acquire() and await first.holds()
        return
    async with open_storage(migrated_url) as other_storage:  # another master: its own connections
        second = other_storage.leadership()
        try:
            assert await first.acquire() is True
            assert await first.holds() is True
            assert await second.acquire() is False
            assert await second.holds() is False
            await first.release()  # a leader stopping (or killed: its connection closes the same way)
            assert await second.acquire() is True
            assert await first.acquire() is False
        finally:
            await first.release()
            await second.release()


async def test_an_expired_lease_is_taken(storage: Storage, migrated_url: str) -> None:
    """MongoDB: a leader that stopped renewing (killed) loses its lease once it expires."""
    db = getattr(storage, "_db", None)
    if db is None:
        pytest.skip("the lease is MongoDB's; PostgreSQL frees the lock with the connection")
    first = storage.leadership()
    async with open_storage(migrated_url) as other_storage:
        second = other_storage.leadership()
        assert await first.acquire() is True
        assert await second.acquire() is False
        await db.leases.update_one({"_id": "leader"}, {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}})
        assert await second.acquire() is True
        assert await first.holds() is False  # the old leader notices at its next check
        await second.release()
