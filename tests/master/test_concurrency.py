"""Concurrency keys: how a key is rendered and checked, and `Holders` alone against real storage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import ValidationError

from podium_master.concurrency import Holders
from podium_model import Run, RunSource, RunStatus, RunUpdate, concurrency_key
from podium_model.config import JobConfig
from podium_model.jobs import Job
from podium_model.limits import CONCURRENCY_KEY_CHARS
from podium_storage import Storage, migrate, open_storage


def _job(concurrency: dict[str, Any] | None, **extra: Any) -> Job:
    definition: dict[str, Any] = {"type": "job", "commands": [["true"]]}
    if concurrency is not None:
        definition["concurrency"] = concurrency
    config = JobConfig.model_validate({"id": "deploy", "definition": definition, **extra})
    return Job.model_validate({**config.model_dump(), "project": "p", "created_at": 0, "updated_at": 0})


def test_a_key_is_rendered_from_the_parameters_with_their_defaults() -> None:
    """Declared parameters left out read as their default (or ""); no limit, no key."""
    parameters = [{"key": "env"}, {"key": "region", "default": "eu"}]
    job = _job({"limit": 1, "key": "{run.job}-{parameters.env}-{parameters.region}"}, parameters=parameters)
    assert concurrency_key(job, {"env": "prod"}) == "deploy-prod-eu"
    assert concurrency_key(job, {}) == "deploy--eu"
    assert concurrency_key(_job({"limit": 2}), {}) == "deploy"
    assert concurrency_key(_job(None), {"env": "prod"}) is None


def test_a_long_key_stays_distinct_and_within_the_limit() -> None:
    """A rendered key over the limit becomes a prefix and the digest of the whole."""
    job = _job({"limit": 1, "key": "k-{parameters.env}"}, parameters=[{"key": "env"}])
    one, two = (concurrency_key(job, {"env": "x" * 500 + tail}) for tail in ("a", "b"))
    assert one is not None and two is not None and one != two
    assert len(one) == len(two) == CONCURRENCY_KEY_CHARS and one.startswith("k-xxx")


@pytest.mark.parametrize(
    "key",
    [
        "{parameters.nope}",
        "{parameters.token}",
        "{results.x}",
        "{worker.id}",
        "{run.id}",
        "{parameters.env|sh}",
        "{parameters.env",
        "",
    ],
)
def test_a_key_reading_anything_else_is_refused_at_apply_time(key: str) -> None:
    """Only declared parameters, run.project and run.job: the rest is not known when a run is triggered,
    and a secret parameter's value would show in the run's key."""
    with pytest.raises(ValidationError):
        _job({"limit": 1, "key": key}, parameters=[{"key": "env"}, {"key": "token", "secret": True}])


@pytest.mark.parametrize("concurrency", [{"limit": 0}, {"limit": 10_001}, {"limit": 1, "on_full": "drop"}, {}])
def test_limits_are_checked(concurrency: dict[str, Any]) -> None:
    """The limit is 1 to 10,000 and required; on_full is one of three."""
    with pytest.raises(ValidationError):
        _job(concurrency)


@pytest.mark.parametrize("priority", [-1001, 1001])
def test_priorities_are_bounded(priority: int) -> None:
    """-1000 to 1000."""
    with pytest.raises(ValidationError):
        _job(None, priority=priority)


@pytest.fixture
async def storage(database_url: str) -> AsyncIterator[Storage]:
    """A migrated database."""
    await migrate(database_url)
    async with open_storage(database_url) as storage:
        yield storage


async def _running(storage: Storage, key: str | None) -> Run:
    run = await storage.create_run("p", "j", {}, RunSource(), concurrency_key=key)
    moved = await storage.transition_run(run.id, [RunStatus.pending], RunStatus.running, RunUpdate(worker="w"))
    assert moved is not None
    return moved


async def test_holders_follow_claims_ends_and_reservations(storage: Storage) -> None:
    """A reservation counts once, also after its claim; an end or a requeue releases; keys are per project."""
    holders = Holders()
    pending = await storage.create_run("p", "j", {}, RunSource(), concurrency_key="k")
    holders.reserve(pending)
    holders.reserve(pending)
    assert holders.count("p", "k") == 1 and holders.count("q", "k") == 0
    running = await _running(storage, "k")
    holders.observe(running)
    holders.observe(pending)  # a pending run written (its waiting reason) keeps its reservation
    assert holders.count("p", "k") == 2
    claimed = await storage.transition_run(pending.id, [RunStatus.pending], RunStatus.running, RunUpdate(worker="w"))
    assert claimed is not None
    holders.observe(claimed)
    holders.release(claimed)
    assert holders.count("p", "k") == 2 and [r.id for r in holders.running("p", "k")] == [pending.id, running.id]
    requeued = await storage.transition_run(running.id, [RunStatus.running], RunStatus.pending)
    assert requeued is not None
    holders.observe(requeued)
    done = await storage.transition_run(claimed.id, [RunStatus.running], RunStatus.succeeded)
    assert done is not None
    holders.observe(done)
    assert holders.count("p", "k") == 0 and holders.running("p", "k") == []


async def test_a_rebuild_reads_the_running_runs_and_keeps_what_it_saw_meanwhile(storage: Storage) -> None:
    """A master's start reads who holds each key; a run that ended during the read is not brought back."""
    kept, ended = await _running(storage, "k"), await _running(storage, "k")
    await _running(storage, None)
    holders = Holders()
    read = asyncio.Event()
    original = storage.list_active_runs

    async def slow_read(worker: str | None = None) -> list[Run]:
        runs = await original(worker)
        await read.wait()
        return runs

    storage.list_active_runs = slow_read  # type: ignore[method-assign]
    rebuilding = asyncio.create_task(holders.rebuild(storage))
    await asyncio.sleep(0)  # the read is under way
    finished = await storage.transition_run(ended.id, [RunStatus.running], RunStatus.succeeded)
    assert finished is not None
    holders.observe(finished)
    read.set()
    await rebuilding
    assert holders.ready
    assert [run.id for run in holders.running("p", "k")] == [kept.id]
