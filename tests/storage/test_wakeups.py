"""Contract tests of the masters' wake-ups: a run created through one storage wakes another's listener."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import text

from podium_model import RunSource
from podium_storage import Storage, open_storage
from podium_storage.sql.engine import create_engine
from podium_storage.urls import sql_url
from podium_storage.wakeups import NoWakeups


async def test_a_run_created_elsewhere_wakes_a_listener(storage: Storage, migrated_url: str) -> None:
    """PostgreSQL: every run insert (one, a burst, a retry in a final write) notifies the listeners.

    SQLite (one master) and MongoDB (the sweep finds new runs) have no wake-ups.
    """
    async with open_storage(migrated_url) as other_storage:  # another master: its own connections
        wakeups = other_storage.wakeups()
        if isinstance(wakeups, NoWakeups):
            assert isinstance(storage.wakeups(), NoWakeups)
            return
        woken = asyncio.Event()
        count = 0

        def wake() -> None:
            nonlocal count
            count += 1
            woken.set()

        listener = asyncio.create_task(wakeups.run_forever(wake))
        try:
            await asyncio.wait_for(woken.wait(), 10)  # listening: the first wake-up says so
            woken.clear()
            await storage.create_run("p", "j", {}, RunSource())
            await asyncio.wait_for(woken.wait(), 10)
            woken.clear()
            before = count
            await asyncio.gather(*(storage.create_run("p", "j", {}, RunSource()) for _ in range(50)))
            await asyncio.wait_for(woken.wait(), 10)
            assert count - before <= 50  # at most one per transaction: a burst shares a few
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener


async def test_a_listener_whose_connection_is_killed_listens_again(storage: Storage, migrated_url: str) -> None:
    """PostgreSQL: the listening session terminated by the server, the listener reconnects and wakes once (a pass)."""
    wakeups = storage.wakeups()
    if isinstance(wakeups, NoWakeups):
        return  # nothing listens
    woken = asyncio.Event()
    listener = asyncio.create_task(wakeups.run_forever(woken.set))
    try:
        await asyncio.wait_for(woken.wait(), 10)
        woken.clear()
        engine = create_engine(sql_url(migrated_url), write=True)
        try:
            async with engine.begin() as connection:
                killed = await connection.scalar(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND query LIKE 'LISTEN%'"
                    )
                )
        finally:
            await engine.dispose()
        assert killed == 1
        await asyncio.wait_for(woken.wait(), 10)  # listening again: runs created meanwhile are looked for
        woken.clear()
        await storage.create_run("p", "j", {}, RunSource())
        await asyncio.wait_for(woken.wait(), 10)
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
