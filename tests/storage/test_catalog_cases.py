"""Projects, jobs and schedules on MongoDB (plain tests over a `storage` fixture)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from podium_model import CommandsDefinition, JobParameter, RunSource
from podium_model.config import JobConfig, ScheduleConfig
from podium_storage.interface import Storage, StorageError


def job_config(id: str = "build", **extra: object) -> JobConfig:
    """A one-command job configuration."""
    return JobConfig.model_validate({"id": id, "definition": {"type": "job", "commands": [["echo", id]]}, **extra})


async def test_project_create_update_list_delete(storage: Storage) -> None:
    """A project is created, updated in place, listed by id and deleted."""
    created = await storage.put_project("beta", "Beta", {"db": {"url": "x"}})
    await storage.put_project("alpha")
    updated = await storage.put_project("beta", "Beta 2", {"db": {"url": "y"}})
    assert updated.created_at == created.created_at
    assert updated.display_name == "Beta 2" and updated.services == {"db": {"url": "y"}}
    assert await storage.get_project("beta") == updated
    assert [p.id for p in await storage.list_projects()] == ["alpha", "beta"]
    assert await storage.delete_project("beta") is True
    assert await storage.delete_project("beta") is False
    assert await storage.get_project("beta") is None


async def test_put_project_unchanged_keeps_updated_at(storage: Storage) -> None:
    """Putting the same values again changes nothing, not even `updated_at`."""
    first = await storage.put_project("p", "P")
    assert await storage.put_project("p", "P") == first


async def test_free_form_keys_round_trip(storage: Storage) -> None:
    """Keys with dots and dollars in services, properties and environments survive."""
    services: dict[str, object] = {"a.b": {"$c": 1}, "list": [1, "two", None]}
    project = await storage.put_project("p", services=services)
    assert (await storage.get_project("p")) == project and project.services == services
    config = job_config(
        properties={"os.name": "linux"},
        definition=CommandsDefinition(commands=[["env"]], environment={"A.B": "1", "$X": "2"}, timeout=5),
        parameters=[JobParameter(key="who", default="me", required=True)],
    )
    job = await storage.put_job("p", config)
    assert job.properties == {"os.name": "linux"}
    assert job.definition == config.definition and job.parameters == config.parameters
    assert await storage.get_job("p", "build") == job


async def test_job_upsert_keeps_is_enabled(storage: Storage) -> None:
    """Putting an existing job updates its definition but keeps `is_enabled`."""
    await storage.put_project("p")
    job = await storage.put_job("p", job_config())
    assert job.is_enabled and job.project == "p"
    disabled = await storage.set_job_enabled("p", "build", False)
    assert disabled is not None and not disabled.is_enabled
    updated = await storage.put_job("p", job_config(description="new"))
    assert updated.description == "new" and not updated.is_enabled
    assert updated.created_at == job.created_at
    assert await storage.set_job_enabled("p", "nope", True) is None


async def test_jobs_listed_by_project_and_id(storage: Storage) -> None:
    """Jobs list by project then id, optionally of one project."""
    for project in ("b", "a"):
        await storage.put_project(project)
        for id in ("z", "m"):
            await storage.put_job(project, job_config(id))
    assert [(j.project, j.id) for j in await storage.list_jobs()] == [("a", "m"), ("a", "z"), ("b", "m"), ("b", "z")]
    assert [j.id for j in await storage.list_jobs("b")] == ["m", "z"]
    assert await storage.list_jobs("none") == []


async def test_put_job_of_unknown_project_fails(storage: Storage) -> None:
    """A job needs its project."""
    with pytest.raises(StorageError):
        await storage.put_job("missing", job_config())


async def test_delete_job_and_project_cascade(storage: Storage) -> None:
    """Deleting a job drops its schedules; deleting a project drops its jobs; runs stay."""
    await storage.put_project("p")
    await storage.put_job("p", job_config("a"))
    await storage.put_job("p", job_config("b"))
    await storage.put_schedule("p", ScheduleConfig(id="s", job="a", expression="* * * * *"))
    run = await storage.create_run("p", "a", {}, RunSource())
    assert await storage.delete_job("p", "a") is True
    assert await storage.delete_job("p", "a") is False
    assert await storage.get_schedule("p", "s") is None
    assert await storage.delete_project("p") is True
    assert await storage.list_jobs("p") == []
    assert await storage.get_run(run.id) == run


async def test_schedule_lifecycle(storage: Storage) -> None:
    """A schedule is created, keeps is_enabled and last_run on update, fires and is deleted."""
    await storage.put_project("p")
    await storage.put_job("p", job_config())
    config = ScheduleConfig(id="nightly", job="build", expression="0 3 * * *", parameters={"a": "1"})
    schedule = await storage.put_schedule("p", config)
    assert schedule.is_enabled and schedule.last_run is None and schedule.parameters == {"a": "1"}
    fired = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    await storage.set_schedule_fired("p", "nightly", "run-1", fired)
    await storage.set_schedule_fired("p", "nightly", None, fired.replace(minute=5))
    assert (await storage.set_schedule_enabled("p", "nightly", False)) is not None
    updated = await storage.put_schedule("p", config.model_copy(update={"expression": "0 4 * * *"}))
    assert updated.expression == "0 4 * * *" and not updated.is_enabled
    assert updated.last_run == "run-1" and updated.last_fired_at == fired.replace(minute=5)
    assert updated.last_fired_at is not None and updated.last_fired_at.tzinfo is not None
    assert [s.id for s in await storage.list_schedules("p")] == ["nightly"]
    assert [s.id for s in await storage.list_schedules()] == ["nightly"]
    assert await storage.set_schedule_enabled("p", "other", True) is None
    assert await storage.delete_schedule("p", "nightly") is True
    assert await storage.delete_schedule("p", "nightly") is False


async def test_a_tick_is_claimed_once_and_last_fired_at_never_moves_back(storage: Storage) -> None:
    """claim_schedule_tick is a compare-and-set (one caller per tick, only forward); set_schedule_fired keeps
    a later tick."""
    await storage.put_project("p")
    await storage.put_job("p", job_config())
    await storage.put_schedule("p", ScheduleConfig(id="s", job="build", expression="* * * * *"))
    tick = datetime(2030, 1, 2, 3, 4, tzinfo=UTC)
    assert await storage.claim_schedule_tick("p", "s", tick) is True
    assert await storage.claim_schedule_tick("p", "s", tick) is False  # a second master, same tick
    assert await storage.claim_schedule_tick("p", "s", tick.replace(minute=3)) is False  # an older one
    later = tick.replace(minute=5)
    assert await storage.claim_schedule_tick("p", "s", later) is True
    await storage.set_schedule_fired("p", "s", "run-4", tick)  # the run of the older tick, recorded late
    schedule = await storage.get_schedule("p", "s")
    assert schedule is not None and schedule.last_fired_at == later and schedule.last_run == "run-4"
    assert await storage.claim_schedule_tick("p", "gone", later) is False


async def test_schedule_of_unknown_job_fails(storage: Storage) -> None:
    """A schedule needs its job."""
    await storage.put_project("p")
    with pytest.raises(StorageError):
        await storage.put_schedule("p", ScheduleConfig(id="s", job="missing", expression="* * * * *"))
