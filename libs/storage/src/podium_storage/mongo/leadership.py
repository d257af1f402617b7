"""The MongoDB leadership: a lease document renewed by its holder.

MongoDB has no session-level lock, so the leader holds a lease: the document `leader` of
the `leases` collection names its holder and when the lease ends (`expires_at`, the holder's
clock plus `LEASE_SECONDS`). The leader renews it at each check (every `--leader-interval`);
another master takes it only once it has expired, so a killed leader is replaced within
`LEASE_SECONDS` plus one interval. The masters' clocks must agree within a few seconds; two
masters that both believe they lead for a moment still fire each tick once (the tick's
compare-and-set).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from podium_model import new_id
from podium_storage.leadership import Leadership
from podium_storage.mongo.base import Document, now_ms

logger = logging.getLogger(__name__)

LEASE_SECONDS = 10.0
"""How long a lease lasts unless renewed: the longest a killed leader goes unreplaced (plus one try)."""

_LEADER = "leader"


class LeaseLeadership(Leadership):
    """Leads while holding the lease document, renewed at each `holds()`."""

    shared = True

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._leases = db.leases
        self._holder = new_id()  # this claim's own id: a restarted master is another holder

    async def acquire(self) -> bool:
        """Take the lease if it is free, expired or already this master's; False otherwise."""
        return await self._take()

    async def holds(self) -> bool:
        """Renew the lease; False once another master took it (it had expired) or the database is away."""
        held = await self._take()
        if not held:
            logger.warning("leadership lost: the lease was not renewed")
        return held

    async def release(self) -> None:
        """Give the lease up, so that another master need not wait for its expiry."""
        try:
            await self._leases.delete_one({"_id": _LEADER, "holder": self._holder})
        except Exception as exc:  # it expires by itself
            logger.debug("lease not released: %s", exc)

    async def _take(self) -> bool:
        now = now_ms()
        free = {"_id": _LEADER, "$or": [{"holder": self._holder}, {"expires_at": {"$lt": now}}]}
        lease = {"$set": {"holder": self._holder, "expires_at": now + timedelta(seconds=LEASE_SECONDS)}}
        try:
            document = await self._leases.find_one_and_update(
                free, lease, upsert=True, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError:  # the lease exists and is another master's: the upsert collided
            return False
        except Exception as exc:  # the database is away: try again at the next tick
            logger.debug("lease not taken (database unavailable): %s", exc)
            return False
        return document is not None and document.get("holder") == self._holder
