"""`podium_storage.sql.inline`: aiosqlite without its thread, and the internals it relies on.

The SQLite statement path replaces private parts of `aiosqlite.Connection` and calls
SQLAlchemy's `greenlet_spawn`; the versions it is tested with are bounded in the storage
package's pyproject. These tests fail first when a new version moves those internals.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from importlib.metadata import version
from pathlib import Path

import aiosqlite
import pytest
from packaging.version import Version

from podium_model import RunSource
from podium_storage import migrate, open_storage
from podium_storage.sql.inline import InlineConnection, _RunAtOnce, inline_creator
from tests.databases import sqlite_url


def test_the_installed_versions_are_within_the_tested_bounds() -> None:
    """aiosqlite < 0.23 and SQLAlchemy < 2.2 (the bounds of libs/storage/pyproject.toml), with the internals used."""
    assert Version(version("aiosqlite")) < Version("0.23")
    assert Version(version("sqlalchemy")) < Version("2.2")
    from sqlalchemy.util import greenlet_spawn  # the SQLite path runs each storage call in one greenlet

    assert callable(greenlet_spawn)
    for name in ("_execute", "_connect", "__await__", "stop", "close"):
        assert hasattr(aiosqlite.Connection, name), name  # what InlineConnection overrides
    probe = aiosqlite.Connection(lambda: sqlite3.connect(":memory:"), iter_chunk_size=64)
    assert {"_tx", "_running", "_connection", "_connector"} <= set(vars(probe))  # what it sets


async def test_statements_run_on_the_event_loop_thread(tmp_path: Path) -> None:
    """Every call runs at once on the caller's thread: no thread is started, results come back."""
    threads = threading.active_count()
    connection = await inline_creator(str(tmp_path / "inline.db"), 1.0)()
    try:
        assert isinstance(connection, InlineConnection)
        raw = connection._connection
        assert raw is not None
        raw.create_function("thread_id", 0, threading.get_ident)
        cursor = await connection.execute("SELECT thread_id()")
        assert await cursor.fetchone() == (threading.get_ident(),)
        await connection.execute("CREATE TABLE t (x INTEGER)")
        await connection.executemany("INSERT INTO t VALUES (?)", [(1,), (2,)])
        await connection.commit()
        assert await connection.execute_fetchall("SELECT x FROM t ORDER BY x") == [(1,), (2,)]
        assert threading.active_count() == threads
    finally:
        await connection.close()


async def test_errors_reach_the_caller_and_a_closed_connection_refuses() -> None:
    """A failing statement raises its sqlite3 error; after close, a call raises ValueError."""
    connection = await InlineConnection(lambda: sqlite3.connect(":memory:"))
    with pytest.raises(sqlite3.OperationalError):
        await connection.execute("SELECT * FROM missing")
    await connection.close()
    with pytest.raises(ValueError, match="[Cc]onnection"):
        await connection.execute("SELECT 1")


async def test_what_is_queued_for_the_thread_runs_at_once() -> None:
    """SQLAlchemy's adapter queues some calls itself: their futures are resolved at once, errors included."""
    queue = _RunAtOnce()
    loop = asyncio.get_running_loop()
    done, failed = loop.create_future(), loop.create_future()
    queue.put_nowait((done, lambda: 42))
    queue.put_nowait((failed, lambda: 1 / 0))
    queue.put_nowait((None, lambda: None))  # no future: nothing to tell
    assert done.result() == 42
    assert isinstance(failed.exception(), ZeroDivisionError)


async def test_a_sqlite_storage_starts_no_thread(tmp_path: Path) -> None:
    """Through SQLAlchemy (the storage's one statement path), SQLite calls start no aiosqlite thread."""
    url = sqlite_url(tmp_path)
    await migrate(url)
    async with open_storage(url) as storage:
        await storage.put_project("p", "P")  # an ORM write (`_orm`)
        threads = threading.active_count()
        run = await storage.create_run("p", "j", {}, RunSource())  # a Core write (`_writing`)
        assert await storage.get_run(run.id) == run  # a read (`_reading`)
        assert (await storage.get_project("p")) is not None
        assert threading.active_count() == threads
