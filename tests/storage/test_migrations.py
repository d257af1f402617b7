"""Tests of the schema migrations and of database URLs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from podium_model import utcnow
from podium_storage import StorageUnavailable, UnsupportedDatabaseUrl, migrate, open_storage
from podium_storage.migration import script_location
from podium_storage.sql import metadata
from podium_storage.sql.engine import create_engine
from podium_storage.urls import sql_url


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_upgrade_head_matches_the_models(database_url: str) -> None:
    """After `upgrade head` autogenerate finds nothing to change, and migrating again is a no-op."""
    await migrate(database_url)
    await migrate(database_url)
    engine = create_engine(sql_url(database_url))
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_diff) == []
    finally:
        await engine.dispose()


async def test_concurrent_migrations(database_url: str) -> None:
    """Several processes' worth of concurrent migrations leave one correct schema."""
    await asyncio.gather(*(migrate(database_url) for _ in range(3)))
    async with open_storage(database_url) as storage:
        assert await storage.list_projects() == []


async def test_0005_adds_secrets_to_existing_projects(database_url: str) -> None:
    """A database at 0004 with a project gets the secrets table; its secrets go with the project."""
    from podium_storage.migration import migrate as migrate_sql

    await migrate_sql(database_url, "0004")
    await _insert_project(database_url, "p")  # as of 0004: today's code writes later columns
    await migrate(database_url)
    async with open_storage(database_url) as storage:
        assert (await storage.put_secret("p", "TOKEN", "sealed")).name == "TOKEN"
        assert await storage.get_sealed_secrets("p", ["TOKEN"]) == {"TOKEN": "sealed"}
        assert await storage.delete_project("p")
        assert await storage.export_secrets() == []


async def _insert_project(database_url: str, project: str) -> None:
    """A project row with the columns of the first schema only."""
    engine = create_engine(sql_url(database_url))
    statement = text(
        "INSERT INTO projects (id, display_name, services, created_at, updated_at) VALUES (:id, '', '{}', :now, :now)"
    )
    try:
        async with engine.begin() as connection:
            await connection.execute(statement, {"id": project, "now": utcnow()})
    finally:
        await engine.dispose()


async def test_0010_gives_existing_projects_no_notifications(database_url: str) -> None:
    """A project of a database at 0009 reads back with no notifications once migrated."""
    from podium_storage.migration import migrate as migrate_sql

    await migrate_sql(database_url, "0009")
    await _insert_project(database_url, "p")
    await migrate(database_url)
    async with open_storage(database_url) as storage:
        project = await storage.get_project("p")
        assert project is not None and project.notifications == []


async def test_0012_adds_steps_to_existing_runs(database_url: str) -> None:
    """A run stored at 0011 reads back with no steps after 0012, and takes steps then."""
    from podium_model import RunSource, RunStep, RunUpdate, utcnow
    from podium_storage.migration import migrate as migrate_sql

    await migrate_sql(database_url, "0011")
    async with open_storage(database_url) as storage:
        run = await storage.create_run("p", "j", {}, RunSource())
    await migrate(database_url)
    async with open_storage(database_url) as storage:
        stored = await storage.get_run(run.id)
        assert stored is not None and stored.steps == []
        step = RunStep(index=1, argv=["true"], started_at=utcnow(), log_offset=0)
        updated = await storage.update_run(run.id, RunUpdate(steps=[step]))
        assert updated is not None and updated.steps == [step]


def test_revisions_are_numbered_and_noted() -> None:
    """Every revision file is NNNN_slug.py and has its line in NOTES.md."""
    location = script_location()
    notes = (location / "NOTES.md").read_text()
    revisions = sorted(p.stem for p in (location / "versions").glob("*.py"))
    assert revisions and revisions[0] == "0001_initial"
    for revision in revisions:
        assert revision[:4].isdigit() and revision[4] == "_"
        assert f"`{revision}`" in notes


@pytest.mark.parametrize(
    "url,expected",
    [
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("sqlite+aiosqlite:////tmp/x.db", "sqlite+aiosqlite:////tmp/x.db"),
        ("postgresql://u@h:5432/d", "postgresql+asyncpg://u@h:5432/d"),
        ("postgres://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("postgresql+asyncpg://u@h/d", "postgresql+asyncpg://u@h/d"),
    ],
)
def test_urls_select_the_async_driver(url: str, expected: str) -> None:
    """Each supported scheme maps to its async driver."""
    assert sql_url(url).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize("url", ["mysql://h/d", "nonsense", "sqlite://", ""])
def test_unsupported_urls(url: str) -> None:
    """Unsupported or malformed URLs raise a clear error."""
    with pytest.raises(UnsupportedDatabaseUrl):
        sql_url(url)


async def test_sqlite_directory_is_created(tmp_path: Path) -> None:
    """A SQLite database in a missing directory gets its directory."""
    url = f"sqlite:///{tmp_path / 'a' / 'b' / 'podium.db'}"
    await migrate(url)
    async with open_storage(url) as storage:
        await storage.ping()
    assert (tmp_path / "a" / "b" / "podium.db").is_file()


async def test_unreachable_database_is_unavailable() -> None:
    """A database nobody answers for raises StorageUnavailable, from ping and from migrate."""
    from tests.support import free_port

    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    async with open_storage(url) as storage:
        with pytest.raises(StorageUnavailable):
            await storage.ping()
        with pytest.raises(StorageUnavailable):
            await storage.list_projects()
    with pytest.raises(StorageUnavailable):
        await migrate(url)
