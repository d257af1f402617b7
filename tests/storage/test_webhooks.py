"""Contract tests of webhook storage: a job's triggers, and the payloads of webhook runs."""

from __future__ import annotations

import pytest

from podium_model import RunSource, RunStatus, new_id
from podium_model.config import JobConfig
from podium_storage import Storage
from podium_storage.interface import AlreadyExists

JOB = JobConfig.model_validate(
    {
        "id": "build",
        "parameters": [{"key": "commit"}],
        "triggers": [{"id": "push", "secret": "HOOK", "parameters": {"commit": "{payload.head_commit.id}"}}],
        "definition": {"type": "job", "commands": [["true"]]},
    }
)


async def test_triggers_are_stored_with_the_job(storage: Storage) -> None:
    """A job's triggers read back as configured, and an update replaces them."""
    await storage.put_project("p")
    stored = await storage.put_job("p", JOB)
    assert stored.triggers == JOB.triggers
    assert (await storage.get_job("p", "build")) == stored
    assert (await storage.list_jobs("p"))[0].triggers == JOB.triggers
    updated = await storage.put_job("p", JOB.model_copy(update={"triggers": []}))
    assert updated.triggers == [] and (await storage.get_job("p", "build")) == updated


async def test_payloads_live_as_long_as_their_run(storage: Storage) -> None:
    """A payload reads back as stored; once twice is refused; deleting the ended run removes it."""
    run_id = new_id()
    body = '{"ref": "refs/heads/main", "x": "é"}'
    await storage.put_run_payload(run_id, body)
    with pytest.raises(AlreadyExists):
        await storage.put_run_payload(run_id, body)
    await storage.create_run("p", "build", {}, RunSource(type="webhook", trigger="push"), run_id)
    assert await storage.get_run_payload(run_id) == body
    assert await storage.get_run_payload(new_id()) is None
    assert await storage.delete_runs([run_id]) == 0  # pending: kept, with its payload
    assert await storage.get_run_payload(run_id) == body
    await storage.transition_run(run_id, [RunStatus.pending], RunStatus.cancelled)
    assert await storage.delete_runs([run_id]) == 1
    assert await storage.get_run_payload(run_id) is None
