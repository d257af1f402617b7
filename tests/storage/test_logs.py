"""The log store contract, on each store: the directory store (SQLite's only one) and the
database store on PostgreSQL and MongoDB."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from podium_storage import DirectoryLogStore, LogOffsetMismatch, LogStore, migrate, open_log_store, open_storage
from podium_storage.interface import Storage
from podium_storage.logs import SQLITE_DATABASE_LOGS, check_log_store
from tests.storage.conftest import _MigratedDatabases, empty_database

STORES = [
    "directory",
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("mongodb", marks=pytest.mark.mongodb),
]


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, migrated_databases: _MigratedDatabases) -> tuple[str, str | None]:
    """The store to test and its database's URL (migrated, empty; None for the directory store)."""
    kind: str = request.param
    if kind == "directory":
        return kind, None
    if kind == "mongodb":
        url: str = request.getfixturevalue("mongo_url")
        asyncio.run(migrate(url))
        return kind, url
    url = migrated_databases.url(kind)
    asyncio.run(empty_database(url))
    return kind, url


@pytest.fixture
async def logs(store_url: tuple[str, str | None], tmp_path: Path) -> AsyncIterator[LogStore]:
    """An empty log store: files under tmp_path, or chunks in an empty database."""
    kind, url = store_url
    if url is None:
        yield DirectoryLogStore(tmp_path / "logs")
        return
    async with open_storage(url) as storage:
        store = open_log_store("database", tmp_path / "artifacts", storage)
        assert store.kind == "database"
        yield store


async def test_append_at_offset_and_read(logs: LogStore) -> None:
    """Chunks append only at the current size; reads start at any offset, bytes come back exact."""
    assert await logs.size("p", "r") == 0 and await logs.read("p", "r") == b""
    assert await logs.append("p", "r", 0, b"hello ") == 6
    assert await logs.append("p", "r", 6, b"\x00world\xff") == 13
    assert await logs.append("p", "r", 13, b"") == 13  # an empty chunk stores nothing, takes no offset
    assert await logs.append("p", "r", 13, b"!") == 14
    assert await logs.size("p", "r") == 14
    assert await logs.read("p", "r") == b"hello \x00world\xff!"
    assert await logs.read("p", "r", 6) == b"\x00world\xff!"
    assert await logs.read("p", "r", 6, 3) == b"\x00wo"
    assert await logs.read("p", "r", 4, 5) == b"o \x00wo"  # across two chunks
    assert await logs.read("p", "r", 13, 100) == b"!"
    assert await logs.read("p", "r", 14) == b"" and await logs.read("p", "r", 100, 10) == b""
    assert await logs.read("p", "other") == b"" and await logs.size("q", "r") == 0  # keyed by project and run


@pytest.mark.parametrize("offset", [0, 3, 5, 6, 100])
async def test_offset_mismatch(logs: LogStore, offset: int) -> None:
    """A gap or an overlap raises LogOffsetMismatch with the stored size and writes nothing."""
    await logs.append("p", "r", 0, b"ab")
    await logs.append("p", "r", 2, b"cde")
    if offset == 5:
        assert await logs.append("p", "r", offset, b"x") == 6  # the held size: accepted
        return
    with pytest.raises(LogOffsetMismatch) as caught:
        await logs.append("p", "r", offset, b"x")
    assert caught.value.size == 5 and await logs.read("p", "r") == b"abcde"
    with pytest.raises(LogOffsetMismatch):
        await logs.append("p", "r", offset, b"")


async def test_racing_writers_one_wins_each_offset(logs: LogStore) -> None:
    """Writers racing at one offset: exactly one stores its chunk, the others learn the new size."""
    await logs.append("p", "r", 0, b"start\n")
    for round_ in range(5):
        held = await logs.size("p", "r")
        chunks = [f"writer {writer} round {round_}\n".encode() for writer in range(8)]
        outcomes = await asyncio.gather(
            *(logs.append("p", "r", held, chunk) for chunk in chunks), return_exceptions=True
        )
        won = [chunk for chunk, outcome in zip(chunks, outcomes, strict=True) if isinstance(outcome, int)]
        lost = [outcome for outcome in outcomes if isinstance(outcome, LogOffsetMismatch)]
        assert len(won) == 1 and len(lost) == 7, outcomes
        assert all(mismatch.size == held + len(won[0]) for mismatch in lost)
        assert (await logs.read("p", "r"))[held:] == won[0]


async def test_delete_removes_the_log_and_its_artifacts(logs: LogStore) -> None:
    """Delete empties the log (a new attempt starts at 0) and removes the run's artifact directory."""
    await logs.append("p", "r", 0, b"first attempt\n")
    await logs.append("p", "kept", 0, b"another run\n")
    artifacts = logs.artifacts("p", "r")
    artifacts.mkdir(parents=True)
    (artifacts / "file").write_bytes(b"kept file")
    assert await logs.delete("p", "r") is True
    assert await logs.size("p", "r") == 0 and await logs.read("p", "r") == b"" and not artifacts.exists()
    assert await logs.delete("p", "r") is False  # nothing left: the master then announces nothing
    assert await logs.append("p", "r", 0, b"second\n") == 7
    assert await logs.read("p", "r") == b"second\n"
    assert await logs.read("p", "kept") == b"another run\n"


async def test_large_log_reads_any_range(logs: LogStore) -> None:
    """A log of 8 MiB in chunks of 64 KiB (the executor's read size) reads back exact over any range."""
    data = os.urandom(8 << 20)
    chunk = 65536
    for offset in range(0, len(data), chunk):
        await logs.append("p", "big", offset, data[offset : offset + chunk])
    assert await logs.size("p", "big") == len(data)
    assert await logs.read("p", "big") == data
    for offset, limit in [(0, 1), (chunk - 1, 2), (12345, 1 << 20), (len(data) - 10, 100), (3 * chunk, chunk)]:
        assert await logs.read("p", "big", offset, limit) == data[offset : offset + limit]
    assert await logs.append("p", "big", len(data), b"x" * (4 << 20)) == len(data) + (4 << 20)  # one big chunk
    assert await logs.read("p", "big", len(data) - 1, 3) == data[-1:] + b"xx"


@pytest.mark.parametrize("project,run", [("..", "r"), ("p", "../x"), ("p/q", "r"), ("", "r")])
async def test_ids_that_could_escape_are_refused(logs: LogStore, project: str, run: str) -> None:
    """Ids that could not name a file are refused by every store alike."""
    with pytest.raises(ValueError):
        await logs.append(project, run, 0, b"x")
    with pytest.raises(ValueError):
        await logs.read(project, run)


async def test_the_database_store_refuses_sqlite(tmp_path: Path) -> None:
    """SQLite serves one host: `--log-store database` there is refused with what to use instead."""
    url = f"sqlite+aiosqlite:///{tmp_path}/podium.db"
    with pytest.raises(ValueError, match="--log-store directory"):
        check_log_store("database", url)
    check_log_store("directory", url)
    check_log_store("database", "postgresql://u@h/d")
    check_log_store("database", "mongodb://h/d")
    storage: Storage
    async with open_storage(url) as storage:
        with pytest.raises(ValueError) as caught:
            open_log_store("database", tmp_path, storage)
        assert str(caught.value) == SQLITE_DATABASE_LOGS
