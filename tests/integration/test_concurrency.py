"""Concurrency limits and priorities, against the real stack (issue 20, item 3).

One master, api and two workers: `w1` (four slots) takes the limited jobs, `w2` (one slot,
`pool=single`) the priority jobs. A run that must keep its key waits on a gate file its test
creates; nothing here sleeps for a fixed time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATABASES
from tests.databases import fresh_database
from tests.stack import Stack
from tests.support import wait_until

GATE = ["sh", "-c", "while [ ! -e {parameters.gate|sh} ]; do sleep 0.05; done"]
"""The command of a run that holds its key until its gate file exists."""

CONFIG = f"""
projects:
  - id: conc
    jobs:
      - id: serial
        parameters: [{{key: gate, default: /}}]
        definition:
          type: job
          commands: [["sleep", "0.3"], {GATE}]
          concurrency: {{limit: 1}}
        properties: {{pool: many}}
      - id: deploy-a
        parameters: [{{key: env, required: true}}, {{key: gate, default: /}}]
        definition: {{type: job, commands: [{GATE}], concurrency: {{limit: 1, key: "deploy-{{parameters.env}}"}}}}
        properties: {{pool: many}}
      - id: deploy-b
        parameters: [{{key: env, required: true}}, {{key: gate, default: /}}]
        definition: {{type: job, commands: [{GATE}], concurrency: {{limit: 1, key: "deploy-{{parameters.env}}"}}}}
        properties: {{pool: many}}
      - id: newest-loses
        parameters: [{{key: gate, default: /}}]
        definition: {{type: job, commands: [{GATE}], concurrency: {{limit: 1, on_full: cancel_new}}}}
        properties: {{pool: many}}
      - id: newest-wins
        parameters: [{{key: gate, default: /}}]
        definition: {{type: job, commands: [{GATE}], concurrency: {{limit: 1, on_full: cancel_old}}}}
        properties: {{pool: many}}
      - id: hold
        parameters: [{{key: gate, required: true}}]
        definition: {{type: job, commands: [{GATE}]}}
        properties: {{pool: single}}
      - id: low
        definition: {{type: job, commands: [["true"]]}}
        properties: {{pool: single}}
      - id: nowhere
        priority: 1000
        definition: {{type: job, commands: [["true"]]}}
        properties: {{pool: none}}
"""


@pytest.fixture(scope="module", params=DATABASES)
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """master, api, `w1` (4 slots, pool=many) and `w2` (1 slot, pool=single) with the configuration above."""
    directory = tmp_path_factory.mktemp("concurrency")
    config = directory / "podium.yaml"
    config.write_text(CONFIG)
    with fresh_database(request.param, directory) as url:
        running = Stack(directory, url, config=config)
        try:
            running.prepare()
            running.start_master()
            running.start_api()
            running.start_worker("w1", 4, "pool=many")
            running.start_worker("w2", 1, "pool=single")
            wait_until(lambda: _active_workers(running) >= 2, 60, "both workers connected")
            yield running
        finally:
            running.stop()


def _active_workers(stack: Stack) -> int:
    return sum(1 for worker in stack.client.get("/workers").json() if worker["is_active"])


def _trigger(stack: Stack, job: str, priority: int | None = None, **parameters: str) -> dict[str, Any]:
    body: dict[str, Any] = {"parameters": parameters}
    if priority is not None:
        body["priority"] = priority
    response = stack.client.post(f"/projects/conc/jobs/{job}/runs", json=body)
    assert response.status_code == 201, response.text
    run: dict[str, Any] = response.json()
    return run


def _waiting(stack: Stack, run_id: str, text: str) -> dict[str, Any]:
    """Wait until the pending run says `text` in its waiting reason."""

    def says() -> dict[str, Any] | None:
        run = stack.run("conc", run_id)
        assert run["status"] == "pending", run
        return run if text in (run["waiting_reason"] or "") else None

    return wait_until(says, 30, f"run {run_id} waiting with {text!r}")


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_runs_of_a_limit_of_one_run_one_at_a_time(stack: Stack, tmp_path: Path) -> None:
    """Five runs of `serial` (limit 1, four free slots) never overlap; the waiting ones name the limit."""
    gate = tmp_path / "open"
    runs = [_trigger(stack, "serial", gate=str(gate)) for _ in range(5)]
    assert {run["concurrency_key"] for run in runs} == {"serial"}
    stack.wait_run("conc", runs[0]["id"], {"running"})
    for run in runs[1:]:
        _waiting(stack, run["id"], "concurrency limit 1 of key serial reached")
    gate.touch()
    ended = [stack.wait_run("conc", run["id"], timeout=60) for run in runs]
    assert [run["status"] for run in ended] == ["succeeded"] * 5, ended
    ordered = sorted(ended, key=lambda run: _at(run["started_at"]))
    for before, after in zip(ordered, ordered[1:], strict=False):
        assert _at(before["completed_at"]) <= _at(after["started_at"]), (before, after)


def test_two_jobs_sharing_a_key_exclude_each_other(stack: Stack, tmp_path: Path) -> None:
    """`deploy-a` and `deploy-b` share `deploy-{env}`: one prod deploy at a time, dev beside it."""
    gate = tmp_path / "open"
    first = _trigger(stack, "deploy-a", env="prod", gate=str(gate))
    stack.wait_run("conc", first["id"], {"running"})
    second = _trigger(stack, "deploy-b", env="prod", gate=str(gate))
    assert second["concurrency_key"] == "deploy-prod"
    _waiting(stack, second["id"], "concurrency limit 1 of key deploy-prod reached")
    other = _trigger(stack, "deploy-b", env="dev", gate=str(gate))
    stack.wait_run("conc", other["id"], {"running"})
    assert stack.run("conc", second["id"])["status"] == "pending"
    gate.touch()
    for run in (first, second, other):
        assert stack.wait_run("conc", run["id"])["status"] == "succeeded"


def test_on_full_cancel_new_and_cancel_old(stack: Stack, tmp_path: Path) -> None:
    """`cancel_new` cancels the run that finds its key full; `cancel_old` aborts the holder for it."""
    gate = tmp_path / "open"
    holder = _trigger(stack, "newest-loses", gate=str(gate))
    stack.wait_run("conc", holder["id"], {"running"})
    refused = stack.wait_run("conc", _trigger(stack, "newest-loses")["id"])
    assert refused["status"] == "cancelled", refused
    assert "concurrency limit 1 of key newest-loses reached" in refused["reason"], refused

    old = _trigger(stack, "newest-wins", gate=str(gate))
    stack.wait_run("conc", old["id"], {"running"})
    new = _trigger(stack, "newest-wins")
    assert stack.wait_run("conc", old["id"])["status"] == "aborted"
    assert stack.wait_run("conc", new["id"])["status"] == "succeeded"
    gate.touch()
    assert stack.wait_run("conc", holder["id"])["status"] == "succeeded"


def test_a_high_priority_run_goes_first_and_blocks_nothing(stack: Stack, tmp_path: Path) -> None:
    """With `w2`'s one slot busy, a run of priority 10 queued after ten low ones starts first;
    a run of priority 1000 no worker can take waits without holding back the others."""
    gate = tmp_path / "open"
    busy = _trigger(stack, "hold", gate=str(gate))
    stack.wait_run("conc", busy["id"], {"running"})
    nowhere = _trigger(stack, "nowhere")
    assert nowhere["priority"] == 1000
    low = [_trigger(stack, "low") for _ in range(10)]
    high = _trigger(stack, "low", priority=10)
    assert high["priority"] == 10 and low[0]["priority"] == 0
    gate.touch()
    ended = {run["id"]: stack.wait_run("conc", run["id"]) for run in [busy, high, *low]}
    assert all(run["status"] == "succeeded" for run in ended.values()), ended
    first_low = min(_at(ended[run["id"]]["started_at"]) for run in low)
    assert _at(ended[high["id"]]["started_at"]) < first_low
    waiting = stack.run("conc", nowhere["id"])
    assert waiting["status"] == "pending" and "pool=none" in waiting["waiting_reason"], waiting
    stack.client.post(f"/projects/conc/runs/{nowhere['id']}/cancel")


def test_a_restarted_master_keeps_the_limit(stack: Stack, tmp_path: Path) -> None:
    """The holder of a key still running when the master restarts keeps it: the next run waits."""
    gate = tmp_path / "open"
    holder = _trigger(stack, "serial", gate=str(gate))
    stack.wait_run("conc", holder["id"], {"running"})
    assert stack.master is not None
    stack.master.stop()
    stack.start_master()
    wait_until(lambda: _active_workers(stack) >= 2, 60, "both workers back")
    waiting = _trigger(stack, "serial")
    probe = _trigger(stack, "low")  # dispatched by the same rounds: once it ran, the waiting run was seen
    assert stack.wait_run("conc", probe["id"])["status"] == "succeeded"
    _waiting(stack, waiting["id"], "concurrency limit 1 of key serial reached")
    gate.touch()
    assert stack.wait_run("conc", holder["id"], timeout=60)["status"] == "succeeded"
    assert stack.wait_run("conc", waiting["id"], timeout=60)["status"] == "succeeded"
