"""Group commit: concurrent writes share a transaction, and one refused write fails only its caller."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from podium_model import RunSource
from podium_storage import AlreadyExists, Storage
from podium_storage.batches import GroupCommit
from podium_storage.interface import StorageError, StorageUnavailable


class Recorder:
    """An `apply` that records its batches, refuses the item "bad" and can be made unavailable."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.unavailable = False
        self.broken = False

    async def __call__(self, items: Sequence[str]) -> list[str]:
        self.batches.append(list(items))
        await asyncio.sleep(0)  # a real transaction yields to the loop: others queue meanwhile
        if self.unavailable:
            raise StorageUnavailable("database unavailable")
        if self.broken:
            self.broken = False
            raise RuntimeError("a driver error nobody classified")
        if "bad" in items:
            raise StorageError("constraint violated")
        return [item.upper() for item in items]


async def test_writes_queued_meanwhile_share_one_call_in_order() -> None:
    recorder = Recorder()
    commit = GroupCommit(recorder)
    results = await asyncio.gather(*(commit.submit(item) for item in ["a", "b", "c", "d"]))
    assert results == ["A", "B", "C", "D"]
    assert recorder.batches == [["a", "b", "c", "d"]]  # submitted together: one call
    assert await commit.submit("e") == "E"  # and later ones get calls of their own
    assert recorder.batches[-1] == ["e"]


async def test_a_refused_item_fails_only_its_caller() -> None:
    recorder = Recorder()
    commit = GroupCommit(recorder)
    results = await asyncio.gather(*(commit.submit(item) for item in ["a", "b", "bad", "c"]), return_exceptions=True)
    assert results[0] == "A" and results[1] == "B" and results[3] == "C"
    assert isinstance(results[2], StorageError) and str(results[2]) == "constraint violated"


async def test_an_outage_fails_every_caller_of_the_batch() -> None:
    recorder = Recorder()
    recorder.unavailable = True
    commit = GroupCommit(recorder)
    results = await asyncio.gather(*(commit.submit(item) for item in ["a", "b", "c"]), return_exceptions=True)
    assert all(isinstance(result, StorageUnavailable) for result in results)
    assert recorder.batches == [["a", "b", "c"]]  # no one-by-one retry against a database that is away


async def test_an_unexpected_error_reaches_its_callers_and_the_queue_goes_on() -> None:
    """Not a cancellation (a waiting final status was taken for cancelled, and dropped): the error itself."""
    recorder = Recorder()
    recorder.broken = True
    commit = GroupCommit(recorder)
    first = [asyncio.ensure_future(commit.submit(item)) for item in ["a", "b"]]
    await asyncio.sleep(0)  # the writer took them: the next ones queue behind
    later = [asyncio.ensure_future(commit.submit(item)) for item in ["c", "d"]]
    results = await asyncio.gather(*first, *later, return_exceptions=True)
    assert all(isinstance(result, RuntimeError) for result in results[:2]), results
    assert results[2:] == ["C", "D"]


async def test_concurrent_creates_with_a_taken_id(storage: Storage) -> None:
    """Runs created at once are all stored; the one whose id is taken raises AlreadyExists alone."""
    taken = await storage.create_run("p", "j", {}, RunSource())
    results = await asyncio.gather(
        *(storage.create_run("p", "j", {"n": str(n)}, RunSource()) for n in range(5)),
        storage.create_run("p", "j", {}, RunSource(), run_id=taken.id),
        return_exceptions=True,
    )
    assert isinstance(results[-1], AlreadyExists)
    created = [result for result in results[:-1] if not isinstance(result, BaseException)]
    assert len(created) == 5
    for run in created:
        assert await storage.get_run(run.id) == run


@pytest.mark.parametrize("count", [1, 300])
async def test_many_waiting_writers_are_all_answered(count: int) -> None:
    recorder = Recorder()
    commit = GroupCommit(recorder)
    results = await asyncio.gather(*(commit.submit(f"x{n}") for n in range(count)))
    assert results == [f"X{n}" for n in range(count)]
    assert all(len(batch) <= 200 for batch in recorder.batches)
