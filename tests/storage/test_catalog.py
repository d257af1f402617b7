"""Contract tests of projects, jobs and schedules."""

from __future__ import annotations

from datetime import timedelta

import pytest

from podium_model import RunSource, utcnow
from podium_model.config import JobConfig, ScheduleConfig
from podium_storage import Storage, StorageError


def job_config(id: str = "hello", command: str = "hello", **extra: object) -> JobConfig:
    """A one-command job configuration."""
    return JobConfig.model_validate({"id": id, "definition": {"type": "job", "commands": [["echo", command]]}, **extra})


async def test_projects_create_update_delete(storage: Storage) -> None:
    """put_project creates then updates; delete answers whether it existed."""
    created = await storage.put_project("p", "P", {"git": {"url": "x"}})
    assert created.services == {"git": {"url": "x"}} and created.created_at.utcoffset() == timedelta(0)
    updated = await storage.put_project("p", "New")
    assert updated.display_name == "New" and updated.services == {} and updated.created_at == created.created_at
    await storage.put_project("a")
    assert [p.id for p in await storage.list_projects()] == ["a", "p"]
    assert await storage.get_project("p") == updated
    assert await storage.delete_project("p") is True
    assert await storage.delete_project("p") is False
    assert await storage.get_project("p") is None


async def test_put_job_keeps_is_enabled_and_updated_at_when_unchanged(storage: Storage) -> None:
    """Upserting a job keeps is_enabled; an identical upsert does not touch updated_at."""
    await storage.put_project("p")
    job = await storage.put_job("p", job_config(parameters=[{"key": "name", "default": "world"}]))
    assert job.is_enabled and job.parameters[0].default == "world"
    disabled = await storage.set_job_enabled("p", "hello", False)
    assert disabled is not None and not disabled.is_enabled
    same = await storage.put_job("p", job_config(parameters=[{"key": "name", "default": "world"}]))
    assert not same.is_enabled and same.updated_at == disabled.updated_at
    changed = await storage.put_job("p", job_config(command="bye"))
    assert not changed.is_enabled and changed.updated_at > same.updated_at
    assert changed.definition.model_dump()["commands"] == [["echo", "bye"]]
    assert await storage.get_job("p", "hello") == changed
    assert await storage.set_job_enabled("p", "unknown", True) is None


async def test_job_of_unknown_project_is_refused(storage: Storage) -> None:
    """A job needs its project."""
    with pytest.raises(StorageError):
        await storage.put_job("nope", job_config())


async def test_list_and_delete_jobs(storage: Storage) -> None:
    """Jobs list by project and id; deleting a job removes its schedules but not its runs."""
    await storage.put_project("p")
    await storage.put_project("q")
    await storage.put_job("q", job_config("a"))
    await storage.put_job("p", job_config("b"))
    await storage.put_job("p", job_config("a"))
    pipeline = JobConfig.model_validate(
        {"id": "pipe", "definition": {"type": "pipeline", "elements": [{"id": "one", "job": "a"}]}}
    )
    await storage.put_job("p", pipeline)
    assert [(j.project, j.id) for j in await storage.list_jobs()] == [("p", "a"), ("p", "b"), ("p", "pipe"), ("q", "a")]
    assert [j.id for j in await storage.list_jobs("p")] == ["a", "b", "pipe"]
    assert (await storage.get_job("p", "pipe")) is not None
    await storage.put_schedule("p", ScheduleConfig(id="s", job="a", expression="* * * * *"))
    run = await storage.create_run("p", "a", {}, RunSource())
    assert await storage.delete_job("p", "a") is True
    assert await storage.delete_job("p", "a") is False
    assert await storage.get_schedule("p", "s") is None
    assert await storage.get_run(run.id) is not None


async def test_delete_project_removes_jobs_and_schedules_not_runs(storage: Storage) -> None:
    """Deleting a project removes its jobs and schedules; its runs stay readable."""
    await storage.put_project("p")
    await storage.put_job("p", job_config())
    await storage.put_schedule("p", ScheduleConfig(id="s", job="hello", expression="0 3 * * *"))
    run = await storage.create_run("p", "hello", {}, RunSource())
    assert await storage.delete_project("p")
    assert await storage.list_jobs("p") == [] and await storage.list_schedules("p") == []
    assert await storage.get_run(run.id) is not None


async def test_schedules_upsert_enable_and_fire(storage: Storage) -> None:
    """put_schedule keeps is_enabled and last_run; firing records the run and the time."""
    await storage.put_project("p")
    await storage.put_job("p", job_config())
    created = await storage.put_schedule(
        "p", ScheduleConfig(id="s", job="hello", expression="0 3 * * *", parameters={"name": "night"})
    )
    assert created.is_enabled and created.last_run is None and created.parameters == {"name": "night"}
    assert (await storage.set_schedule_enabled("p", "s", False)) is not None
    fired_at = utcnow()
    await storage.set_schedule_fired("p", "s", "run-1", fired_at)
    await storage.set_schedule_fired("p", "s", None, fired_at + timedelta(minutes=1))
    updated = await storage.put_schedule("p", ScheduleConfig(id="s", job="hello", expression="0 4 * * *"))
    assert not updated.is_enabled and updated.last_run == "run-1" and updated.expression == "0 4 * * *"
    assert updated.last_fired_at == fired_at + timedelta(minutes=1)
    assert [s.id for s in await storage.list_schedules()] == ["s"]
    assert await storage.get_schedule("p", "s") == updated
    assert await storage.set_schedule_enabled("p", "x", True) is None
    assert await storage.delete_schedule("p", "s") is True
    assert await storage.delete_schedule("p", "s") is False


async def test_schedule_of_unknown_job_is_refused(storage: Storage) -> None:
    """A schedule needs its job."""
    await storage.put_project("p")
    with pytest.raises(StorageError):
        await storage.put_schedule("p", ScheduleConfig(id="s", job="nope", expression="* * * * *"))
