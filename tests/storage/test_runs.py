"""Contract tests of runs: creation, listings with keyset cursors, compare-and-set transitions."""

from __future__ import annotations

import asyncio
from datetime import UTC, timedelta

import pytest

from podium_model import RunFilter, RunSource, RunStatus, RunUpdate, utcnow
from podium_storage import InvalidCursor, Storage
from podium_storage.interface import pending_cursor


async def test_create_and_get_run(storage: Storage) -> None:
    """A new run is pending, keeps its parameters and source, and reads back with UTC dates."""
    run = await storage.create_run("p", "j", {"name": "world"}, RunSource(type="user", user="alice"))
    assert run.status is RunStatus.pending
    stored = await storage.get_run(run.id)
    assert stored == run
    assert stored.created_at.tzinfo is not None and stored.created_at.utcoffset() == timedelta(0)
    assert stored.source.user == "alice"
    assert await storage.get_run("unknown") is None


async def test_create_run_with_given_id_is_unique(storage: Storage) -> None:
    """A run id given twice is refused with AlreadyExists."""
    from podium_storage import AlreadyExists

    await storage.create_run("p", "j", {}, RunSource(), run_id="0190c8a4-0000-7000-8000-000000000001")
    with pytest.raises(AlreadyExists):
        await storage.create_run("p", "j", {}, RunSource(), run_id="0190c8a4-0000-7000-8000-000000000001")


async def test_list_runs_newest_first_with_filters(storage: Storage) -> None:
    """Listings sort newest first and filter by project, job, status, worker and source."""
    a = await storage.create_run("p", "a", {}, RunSource())
    b = await storage.create_run("p", "b", {}, RunSource(type="schedule", schedule="nightly"))
    c = await storage.create_run("q", "a", {}, RunSource())
    await storage.transition_run(b.id, [RunStatus.pending], RunStatus.running, RunUpdate(worker="w1"))

    async def ids(**kwargs: object) -> list[str]:
        return [run.id for run in (await storage.list_runs(RunFilter.model_validate(kwargs))).items]

    assert await ids() == [c.id, b.id, a.id]
    assert await ids(project="p") == [b.id, a.id]
    assert await ids(project="p", job="a") == [a.id]
    assert await ids(status=["running"]) == [b.id]
    assert await ids(status=["pending", "running"]) == [c.id, b.id, a.id]
    assert await ids(worker="w1") == [b.id]
    assert await ids(source="schedule") == [b.id]
    assert await ids(created_after=utcnow() + timedelta(hours=1)) == []
    assert await ids(created_before=utcnow() + timedelta(hours=1)) == [c.id, b.id, a.id]


async def test_cursor_pagination_never_repeats_or_skips(storage: Storage) -> None:
    """Paging while new runs are inserted returns each original run exactly once, in order."""
    original = [(await storage.create_run("p", "j", {}, RunSource())).id for _ in range(25)]
    seen: list[str] = []
    cursor = None
    while True:
        page = await storage.list_runs(RunFilter(project="p"), limit=4, cursor=cursor)
        seen.extend(run.id for run in page.items)
        await storage.create_run("p", "j", {}, RunSource())  # newer runs land before the cursor
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert [run_id for run_id in seen if run_id in set(original)] == list(reversed(original))
    assert len(seen) == len(set(seen))


async def test_last_page_has_no_cursor(storage: Storage) -> None:
    """A page that reaches the end has no next cursor, even when it is exactly full."""
    for _ in range(3):
        await storage.create_run("p", "j", {}, RunSource())
    page = await storage.list_runs(RunFilter(), limit=3)
    assert len(page.items) == 3 and page.next_cursor is None
    page = await storage.list_runs(RunFilter(), limit=2)
    assert page.next_cursor is not None
    rest = await storage.list_runs(RunFilter(), limit=2, cursor=page.next_cursor)
    assert len(rest.items) == 1 and rest.next_cursor is None


@pytest.mark.parametrize("cursor", ["garbage", "eyJ4IjogMX0=", "bnVsbA==", "!!!", ""])
async def test_invalid_cursor(storage: Storage, cursor: str) -> None:
    """A cursor this storage did not make raises InvalidCursor."""
    with pytest.raises(InvalidCursor):
        await storage.list_runs(RunFilter(), cursor=cursor)


async def test_transition_is_compare_and_set(storage: Storage) -> None:
    """A transition happens only from an expected status and writes its changes with it."""
    run = await storage.create_run("p", "j", {}, RunSource())
    started = utcnow()
    running = await storage.transition_run(
        run.id, [RunStatus.pending], RunStatus.running, RunUpdate(worker="w", started_at=started)
    )
    assert running is not None and running.status is RunStatus.running
    assert running.worker == "w" and running.started_at == started
    assert await storage.transition_run(run.id, [RunStatus.pending], RunStatus.cancelled) is None
    assert await storage.transition_run(run.id, [], RunStatus.cancelled) is None
    assert await storage.transition_run("unknown", [RunStatus.pending], RunStatus.running) is None
    done = await storage.transition_run(
        run.id, [RunStatus.running], RunStatus.succeeded, RunUpdate(results={"a": [1, {"b": None}]})
    )
    assert done is not None and done.results == {"a": [1, {"b": None}]}
    assert (await storage.get_run(run.id)) == done


async def test_concurrent_transitions_exactly_one_wins(storage: Storage) -> None:
    """Many concurrent transitions of the same pending run: exactly one succeeds."""
    run = await storage.create_run("p", "j", {}, RunSource())
    results = await asyncio.gather(
        *(
            storage.transition_run(run.id, [RunStatus.pending], RunStatus.running, RunUpdate(worker=f"w{i}"))
            for i in range(8)
        )
    )
    winners = [result for result in results if result is not None]
    assert len(winners) == 1
    assert (await storage.get_run(run.id)) == winners[0]


async def test_update_run_never_changes_status(storage: Storage) -> None:
    """update_run writes only the fields set, keeps the status, and answers None when unknown."""
    run = await storage.create_run("p", "j", {}, RunSource())
    updated = await storage.update_run(run.id, RunUpdate(should_cancel=True, waiting_reason="no worker"))
    assert updated is not None and updated.should_cancel and updated.waiting_reason == "no worker"
    assert updated.status is RunStatus.pending and updated.worker is None
    cleared = await storage.update_run(run.id, RunUpdate(waiting_reason=None))
    assert cleared is not None and cleared.waiting_reason is None and cleared.should_cancel
    assert await storage.update_run("unknown", RunUpdate(should_abort=True)) is None


async def test_pending_and_active_runs(storage: Storage) -> None:
    """Pending and running runs list oldest first; active runs filter by worker."""
    first = await storage.create_run("p", "j", {}, RunSource())
    second = await storage.create_run("p", "j", {}, RunSource())
    third = await storage.create_run("p", "j", {}, RunSource())
    assert [r.id for r in await storage.list_pending_runs()] == [first.id, second.id, third.id]
    assert [r.id for r in await storage.list_pending_runs(limit=1)] == [first.id]
    await storage.transition_run(first.id, [RunStatus.pending], RunStatus.running, RunUpdate(worker="a"))
    await storage.transition_run(third.id, [RunStatus.pending], RunStatus.running, RunUpdate(worker="b"))
    assert [r.id for r in await storage.list_pending_runs()] == [second.id]
    assert [r.id for r in await storage.list_active_runs()] == [first.id, third.id]
    assert [r.id for r in await storage.list_active_runs("b")] == [third.id]


async def test_pending_runs_page_after_an_id(storage: Storage) -> None:
    """`after` continues the oldest-first listing past a run."""
    runs = [await storage.create_run("p", "j", {}, RunSource()) for _ in range(5)]
    first = await storage.list_pending_runs(limit=2)
    assert [r.id for r in first] == [runs[0].id, runs[1].id]
    rest = await storage.list_pending_runs(limit=10, after=pending_cursor(first[-1]))
    assert [r.id for r in rest] == [r.id for r in runs[2:]]
    assert await storage.list_pending_runs(after=pending_cursor(runs[-1])) == []


async def test_pending_runs_by_priority_then_age(storage: Storage) -> None:
    """Highest priority first, oldest first within one; pages cross priorities without a gap or a repeat."""
    priorities = [0, 5, -3, 5, 0, 1000, -1000, 0, 5]
    runs = [await storage.create_run("p", "j", {}, RunSource(), priority=p) for p in priorities]
    expected = [r.id for r in sorted(runs, key=lambda r: (-r.priority, r.id))]
    assert [r.priority for r in runs] == priorities
    assert [r.id for r in await storage.list_pending_runs()] == expected
    for size in (1, 2, 4):
        seen: list[str] = []
        page = await storage.list_pending_runs(limit=size)
        while page:
            seen += [r.id for r in page]
            page = await storage.list_pending_runs(limit=size, after=pending_cursor(page[-1]))
        assert seen == expected, size
    stored = await storage.get_run(runs[1].id)
    assert stored is not None and stored.priority == 5 and stored.concurrency_key is None


async def test_a_run_keeps_its_concurrency_key(storage: Storage) -> None:
    """The key rendered at trigger time is stored with the run, and kept through its changes."""
    run = await storage.create_run("p", "j", {}, RunSource(), concurrency_key="deploy-prod", priority=-1)
    assert run.concurrency_key == "deploy-prod" and run.priority == -1
    moved = await storage.transition_run(run.id, [RunStatus.pending], RunStatus.running, RunUpdate(worker="w"))
    assert moved is not None and moved.concurrency_key == "deploy-prod" and moved.priority == -1
    assert [r.concurrency_key for r in await storage.list_active_runs()] == ["deploy-prod"]


async def test_waiting_reasons_are_written_together_on_pending_runs_only(storage: Storage) -> None:
    """Waiting reasons go in one write_runs as pending → pending: pending runs only, each run answered."""
    from podium_storage.interface import RunWrite

    waiting, cleared, taken = [await storage.create_run("p", "j", {}, RunSource()) for _ in range(3)]
    await storage.update_run(cleared.id, RunUpdate(waiting_reason="old"))
    await storage.transition_run(taken.id, [RunStatus.pending], RunStatus.running, RunUpdate(worker="w"))
    reasons = {waiting.id: "every matching worker is busy", cleared.id: None, taken.id: "late", "unknown": "x"}
    answers = await storage.write_runs(
        [RunWrite(run_id, RunUpdate(waiting_reason=reason), RunStatus.pending, (RunStatus.pending,))
         for run_id, reason in reasons.items()]
    )  # fmt: skip
    assert [run is not None for run in answers] == [True, True, False, False]
    assert (await storage.get_run(waiting.id)).waiting_reason == "every matching worker is busy"  # type: ignore[union-attr]
    assert (await storage.get_run(cleared.id)).waiting_reason is None  # type: ignore[union-attr]
    assert (await storage.get_run(taken.id)).waiting_reason is None  # type: ignore[union-attr]
    assert answers[0] == await storage.get_run(waiting.id)


async def test_write_runs_applies_changes_in_order_with_each_result(storage: Storage) -> None:
    """write_runs: compare-and-sets and updates in order; None where a run is unknown or moved."""
    from podium_storage.interface import RunWrite

    one, two = await storage.create_run("p", "j", {}, RunSource()), await storage.create_run("p", "j", {}, RunSource())
    claimed, refused, started, unknown = await storage.write_runs(
        [
            RunWrite(one.id, RunUpdate(worker="w"), RunStatus.running, (RunStatus.pending,)),
            RunWrite(one.id, RunUpdate(worker="x"), RunStatus.running, (RunStatus.pending,)),
            RunWrite(one.id, RunUpdate(started_at=utcnow())),
            RunWrite("unknown", RunUpdate(waiting_reason="x")),
        ]
    )
    assert claimed is not None and claimed.status is RunStatus.running and claimed.worker == "w"
    assert refused is None and unknown is None
    assert started is not None and started.started_at is not None and started.worker == "w"
    assert (await storage.get_run(two.id)) == two
    assert await storage.write_runs([]) == []


async def test_dates_are_utc_whatever_zone_is_given(storage: Storage) -> None:
    """A date written in another zone reads back as the same instant, in UTC."""
    from datetime import timezone

    run = await storage.create_run("p", "j", {}, RunSource())
    local = utcnow().astimezone(timezone(timedelta(hours=5)))
    updated = await storage.update_run(run.id, RunUpdate(started_at=local))
    assert updated is not None and updated.started_at == local
    stored = await storage.get_run(run.id)
    assert stored is not None and stored.started_at is not None
    assert stored.started_at == local and stored.started_at.tzinfo == UTC


async def test_secret_parameter_keys_are_stored_with_the_run(storage: Storage) -> None:
    """The keys given (of the parameters the run has) read back from every listing; a run without any has []."""
    source = RunSource(type="api", user="u")
    run = await storage.create_run("p", "j", {"token": "a-secret-value", "n": "1"}, source, None, ["token", "absent"])
    plain = await storage.create_run("p", "j", {"n": "2"}, source)
    assert run.secret_parameters == ["token"] and plain.secret_parameters == []
    fetched = await storage.get_run(run.id)
    assert fetched is not None and fetched.secret_parameters == ["token"]
    assert fetched.parameters["token"] == "a-secret-value"  # stored whole: the worker needs it
    listed = {r.id: r for r in (await storage.list_runs(RunFilter(project="p"))).items}
    assert listed[run.id].secret_parameters == ["token"] and listed[plain.id].secret_parameters == []
    assert [r.secret_parameters for r in await storage.list_pending_runs() if r.id == run.id] == [["token"]]


async def test_a_run_keeps_the_image_it_ran_in(storage: Storage) -> None:
    """A new run has no image; the worker's image and digest, once written, read back from every listing."""
    run = await storage.create_run("p", "j", {}, RunSource())
    assert (run.image, run.image_digest) == (None, None)
    digest = "podium-test/busybox@sha256:" + "0" * 64
    update = RunUpdate(image="podium-test/busybox:1", image_digest=digest)
    updated = await storage.update_run(run.id, update)
    assert updated is not None and (updated.image, updated.image_digest) == ("podium-test/busybox:1", digest)
    fetched = await storage.get_run(run.id)
    assert fetched is not None and fetched.image_digest == digest
    listed = {r.id: r for r in (await storage.list_runs(RunFilter(project="p"))).items}
    assert listed[run.id].image == "podium-test/busybox:1"


async def test_steps_are_stored_updated_and_cleared(storage: Storage) -> None:
    """A run's steps are written with a status change or alone, read back whole, and cleared by []."""
    from podium_model import RunStep

    run = await storage.create_run("p", "j", {}, RunSource())
    assert run.steps == [] and (await storage.get_run(run.id)).steps == []  # type: ignore[union-attr]
    start = utcnow()
    first = RunStep(index=1, argv=["echo", "[masked]", "é"], started_at=start, log_offset=0)
    running = await storage.transition_run(
        run.id, [RunStatus.pending], RunStatus.running, RunUpdate(worker="w", started_at=start, steps=[first])
    )
    assert running is not None and running.steps == [first]
    done = first.model_copy(update={"completed_at": start + timedelta(seconds=1), "exit_code": 0})
    second = RunStep(index=2, argv=["false"], started_at=start + timedelta(seconds=1), log_offset=17)
    # The master's write of a running run's steps: only while it runs (running → running).
    updated = await storage.transition_run(
        run.id, [RunStatus.running], RunStatus.running, RunUpdate(steps=[done, second])
    )
    assert updated is not None and updated.steps == [done, second] and updated.status is RunStatus.running
    failed = second.model_copy(update={"completed_at": start + timedelta(seconds=2), "exit_code": -9})
    final = await storage.transition_run(
        run.id, [RunStatus.running], RunStatus.failed, RunUpdate(steps=[done, failed], reason="command 2")
    )
    assert final is not None and final.steps == [done, failed]
    late = RunUpdate(steps=[done, second])
    assert await storage.transition_run(run.id, [RunStatus.running], RunStatus.running, late) is None
    assert (await storage.get_run(run.id)) == final
    listed = (await storage.list_runs(RunFilter(project="p"))).items
    assert listed[0].steps == [done, failed]
    assert (await storage.update_run(run.id, RunUpdate(results={"a": 1}))).steps == [done, failed]  # type: ignore[union-attr]
    cleared = await storage.update_run(run.id, RunUpdate(steps=[]))
    assert cleared is not None and cleared.steps == []
