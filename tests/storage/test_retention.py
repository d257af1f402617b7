"""Retention: `prune` deletes final runs completed long ago, and their logs, never live runs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from podium_model import Run, RunFilter, RunSource, RunStatus, RunUpdate, utcnow
from podium_storage import DirectoryLogStore, LogStore, Storage
from podium_storage.admin import main
from podium_storage.retention import prune


async def ended(storage: Storage, project: str, status: RunStatus, days_ago: float | None, logs: LogStore) -> Run:
    """A run of `project` moved to `status`, completed `days_ago` (None: never), with a log."""
    run = await storage.create_run(project, "j", {}, RunSource())
    completed_at = None if days_ago is None else utcnow() - timedelta(days=days_ago)
    if status is not RunStatus.pending:
        moved = await storage.transition_run(run.id, [RunStatus.pending], status, RunUpdate(completed_at=completed_at))
        assert moved is not None
        run = moved
    await logs.append(project, run.id, 0, b"log of " + run.id.encode())
    return run


async def remaining(storage: Storage) -> set[str]:
    """The ids of every stored run."""
    return {run.id for run in (await storage.list_runs(RunFilter(), limit=1000)).items}


async def test_completed_before_filter(storage: Storage, tmp_path: Path) -> None:
    """`completed_before` matches runs completed before the instant, never runs not completed."""
    logs = DirectoryLogStore(tmp_path)
    old = await ended(storage, "p", RunStatus.succeeded, 3, logs)
    await ended(storage, "p", RunStatus.failed, 1, logs)
    await ended(storage, "p", RunStatus.pending, None, logs)
    found = await storage.list_runs(RunFilter(completed_before=utcnow() - timedelta(days=2)))
    assert [run.id for run in found.items] == [old.id]


async def test_prune_deletes_old_final_runs_and_logs(storage: Storage, tmp_path: Path) -> None:
    """Old final runs go with their logs, in batches; recent, pending and running runs stay; overrides apply."""
    logs = DirectoryLogStore(tmp_path)
    old = [await ended(storage, "p", status, 10, logs) for status in (RunStatus.succeeded, RunStatus.cancelled)]
    old += [await ended(storage, "p", RunStatus.failed, 8 + n, logs) for n in range(5)]
    recent = await ended(storage, "p", RunStatus.succeeded, 1, logs)
    pending = await ended(storage, "p", RunStatus.pending, None, logs)
    # A running run with a (stray) old completion date: retention must still leave it alone.
    running = await ended(storage, "p", RunStatus.running, 30, logs)
    kept_long = await ended(storage, "keep", RunStatus.aborted, 10, logs)
    short = await ended(storage, "short", RunStatus.exception, 1, logs)
    short_recent = await ended(storage, "short", RunStatus.succeeded, 0.1, logs)

    per_project = {"keep": timedelta(days=30), "short": timedelta(hours=12)}
    deleted = await prune(storage, logs, timedelta(days=7), per_project, batch=2)

    assert deleted == len(old) + 1
    assert await remaining(storage) == {recent.id, pending.id, running.id, kept_long.id, short_recent.id}
    for run in [*old, short]:
        assert await logs.size(run.project, run.id) == 0
    for run in (recent, pending, running, kept_long, short_recent):
        assert await logs.read(run.project, run.id) == b"log of " + run.id.encode()
    assert await prune(storage, logs, timedelta(days=7), per_project, batch=2) == 0


async def test_delete_runs_only_final(storage: Storage, tmp_path: Path) -> None:
    """`delete_runs` deletes final runs and leaves pending and running ones, whatever ids it is given."""
    logs = DirectoryLogStore(tmp_path)
    done = await ended(storage, "p", RunStatus.succeeded, 1, logs)
    pending = await ended(storage, "p", RunStatus.pending, None, logs)
    running = await ended(storage, "p", RunStatus.running, None, logs)
    assert await storage.delete_runs([done.id, pending.id, running.id, "unknown", done.id]) == 1
    assert await remaining(storage) == {pending.id, running.id}
    assert await storage.delete_runs([]) == 0


async def test_prune_rejects_bad_arguments(storage: Storage) -> None:
    """Negative ages and empty batches are refused before anything is deleted."""
    with pytest.raises(ValueError, match="negative"):
        await prune(storage, None, timedelta(days=-1))
    with pytest.raises(ValueError, match="negative"):
        await prune(storage, None, timedelta(days=1), {"p": timedelta(seconds=-1)})
    with pytest.raises(ValueError, match="batch"):
        await prune(storage, None, timedelta(days=1), batch=0)


async def test_admin_prune(
    storage: Storage, migrated_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`admin prune --older-than-days N --project P=DAYS --logs DIR` prunes; bad values exit with code 2."""
    logs = DirectoryLogStore(tmp_path)
    old = await ended(storage, "p", RunStatus.succeeded, 10, logs)
    kept = await ended(storage, "keep", RunStatus.succeeded, 10, logs)
    url = ["--database-url", migrated_url, "prune"]
    args = ["--older-than-days", "7", "--project", "keep=30", "--logs", str(tmp_path)]
    # The CLI runs its own event loop: run it in a worker thread of this test's loop.
    import asyncio

    assert await asyncio.to_thread(main, [*url, *args]) == 0
    assert capsys.readouterr().out.strip() == "deleted 1 runs"
    assert await remaining(storage) == {kept.id} and await logs.size("p", old.id) == 0
    for bad in (["--older-than-days", "-1"], ["--older-than-days", "7", "--project", "keep"],
                ["--older-than-days", "7", "--project", "keep=x"], ["--older-than-days", "nan"]):  # fmt: skip
        assert await asyncio.to_thread(main, [*url, *bad]) == 2, bad
        assert "error:" in capsys.readouterr().err
