"""Runs on MongoDB: creation, compare-and-set transitions, filters and keyset pagination."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from podium_model import RunFilter, RunSource, RunStatus, RunUpdate, new_id
from podium_storage.interface import AlreadyExists, InvalidCursor, Storage

API = RunSource()


async def test_create_and_get_run(storage: Storage) -> None:
    """A new run is pending, has a UUIDv7 id and UTC dates, and reads back equal."""
    run = await storage.create_run("p", "build", {"a.b": "1"}, RunSource(type="user", user="ann"))
    assert run.status is RunStatus.pending and run.parameters == {"a.b": "1"}
    assert run.created_at.tzinfo is not None and run.created_at.utcoffset() == timedelta(0)
    assert await storage.get_run(run.id) == run
    assert await storage.get_run(new_id()) is None


async def test_create_run_with_taken_id_fails(storage: Storage) -> None:
    """Creating a run with an id that exists raises AlreadyExists."""
    run_id = new_id()
    await storage.create_run("p", "build", {}, API, run_id=run_id)
    with pytest.raises(AlreadyExists):
        await storage.create_run("p", "build", {}, API, run_id=run_id)


async def test_transition_is_compare_and_set(storage: Storage) -> None:
    """A transition applies only from an expected status, with its changes."""
    run = await storage.create_run("p", "build", {}, API)
    started = datetime(2030, 1, 1, 12, 0, 0, 123000, tzinfo=UTC)
    moved = await storage.transition_run(
        run.id, [RunStatus.pending], RunStatus.running, RunUpdate(worker="w1", started_at=started)
    )
    assert moved is not None and moved.status is RunStatus.running
    assert moved.worker == "w1" and moved.started_at == started
    assert await storage.transition_run(run.id, [RunStatus.pending], RunStatus.running) is None
    assert await storage.transition_run(run.id, [], RunStatus.failed) is None
    assert await storage.transition_run(new_id(), [RunStatus.pending], RunStatus.running) is None
    done = await storage.transition_run(
        run.id, [RunStatus.running], RunStatus.succeeded, RunUpdate(results={"x.y": [1, 2]})
    )
    assert done is not None and done.results == {"x.y": [1, 2]} and done.worker == "w1"
    assert await storage.get_run(run.id) == done


async def test_concurrent_transitions_exactly_one_wins(storage: Storage) -> None:
    """Of many concurrent transitions from pending, exactly one succeeds."""
    run = await storage.create_run("p", "build", {}, API)
    results = await asyncio.gather(
        *(
            storage.transition_run(run.id, [RunStatus.pending], RunStatus.running, RunUpdate(worker=f"w{i}"))
            for i in range(10)
        )
    )
    winners = [result for result in results if result is not None]
    assert len(winners) == 1
    stored = await storage.get_run(run.id)
    assert stored is not None and stored.worker == winners[0].worker


async def test_update_run_never_touches_status(storage: Storage) -> None:
    """`update_run` writes the fields set and leaves the others and the status."""
    run = await storage.create_run("p", "build", {}, API)
    updated = await storage.update_run(run.id, RunUpdate(should_cancel=True, waiting_reason="no worker"))
    assert updated is not None and updated.should_cancel and updated.waiting_reason == "no worker"
    assert updated.status is RunStatus.pending and updated.results == {}
    assert await storage.update_run(new_id(), RunUpdate(reason="x")) is None


async def test_pending_and_active_runs_oldest_first(storage: Storage) -> None:
    """Pending and running listings answer oldest first; active runs filter by worker."""
    runs = [await storage.create_run("p", "build", {}, API) for _ in range(4)]
    for run, worker in ((runs[0], "w1"), (runs[2], "w2"), (runs[3], "w1")):
        await storage.transition_run(run.id, [RunStatus.pending], RunStatus.running, RunUpdate(worker=worker))
    assert [r.id for r in await storage.list_pending_runs()] == [runs[1].id]
    assert [r.id for r in await storage.list_active_runs()] == [runs[0].id, runs[2].id, runs[3].id]
    assert [r.id for r in await storage.list_active_runs("w1")] == [runs[0].id, runs[3].id]
    assert await storage.list_active_runs("none") == []


async def test_pagination_is_stable_under_inserts(storage: Storage) -> None:
    """Walking pages newest first sees every run once, even if runs are created meanwhile."""
    created = [(await storage.create_run("p", "build", {}, API)).id for _ in range(7)]
    page = await storage.list_runs(RunFilter(), limit=3)
    seen = [run.id for run in page.items]
    while page.next_cursor is not None:
        await storage.create_run("p", "build", {}, API)  # newer: must not appear on later pages
        page = await storage.list_runs(RunFilter(), limit=3, cursor=page.next_cursor)
        seen += [run.id for run in page.items]
    assert seen == sorted(created, reverse=True)


async def test_last_page_has_no_cursor(storage: Storage) -> None:
    """A page that reaches the end has no next cursor."""
    for _ in range(2):
        await storage.create_run("p", "build", {}, API)
    page = await storage.list_runs(RunFilter(), limit=2)
    assert len(page.items) == 2 and page.next_cursor is None
    assert (await storage.list_runs(RunFilter(project="none"))).items == []


@pytest.mark.parametrize("cursor", ["not base64!", "bm90IGpzb24=", "eyJ4IjoxfQ==", "eyJiZWZvcmUiOjF9"])
async def test_invalid_cursor_is_refused(storage: Storage, cursor: str) -> None:
    """A cursor this storage did not produce raises InvalidCursor."""
    with pytest.raises(InvalidCursor):
        await storage.list_runs(RunFilter(), cursor=cursor)


async def test_filters_combine(storage: Storage) -> None:
    """Project, job, status, worker, source and creation time filters combine with AND."""
    a = await storage.create_run("p", "build", {}, API)
    b = await storage.create_run("p", "test", {}, RunSource(type="schedule", schedule="nightly"))
    c = await storage.create_run("q", "build", {}, API)
    await storage.transition_run(b.id, [RunStatus.pending], RunStatus.running, RunUpdate(worker="w1"))

    async def ids(**filter: object) -> set[str]:
        return {run.id for run in (await storage.list_runs(RunFilter.model_validate(filter))).items}

    assert await ids(project="p") == {a.id, b.id}
    assert await ids(project="p", job="build") == {a.id}
    assert await ids(status=["running"]) == {b.id}
    assert await ids(status=["pending", "running"]) == {a.id, b.id, c.id}
    assert await ids(worker="w1") == {b.id}
    assert await ids(source="schedule") == {b.id}
    assert await ids(source="api", job="build") == {a.id, c.id}
    assert await ids(created_after=b.created_at) >= {b.id, c.id}
    assert await ids(created_before=a.created_at) == set()
    assert await ids(created_after=a.created_at, created_before=c.created_at + timedelta(seconds=1)) == {
        a.id,
        b.id,
        c.id,
    }


def test_ids_made_in_one_process_strictly_increase() -> None:
    """Many ids in the same millisecond still sort in the order they were made (UUIDv7, monotonic)."""
    import uuid

    ids = [new_id() for _ in range(20_000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert {uuid.UUID(value).version for value in ids} == {7}
