"""Typed and secret parameters end to end through the real processes (docs/jobs.md, Parameters)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.stack import Stack

SECRET = "parameter-secret-9c1e"
TYPED = {
    "id": "typed",
    "parameters": [
        {"key": "count", "type": "integer", "required": True},
        {"key": "ratio", "type": "number", "default": "0.5"},
        {"key": "verbose", "type": "boolean", "default": "false"},
        {"key": "colour", "type": "choice", "choices": ["red", "green"], "default": "red"},
        {"key": "tag", "pattern": "v[0-9]+"},
        {"key": "password", "secret": True},
    ],
    "definition": {
        "type": "job",
        "commands": [
            ["echo", "count={parameters.count} verbose={parameters.verbose} password={parameters.password}"],
            ["sh", "-c", 'echo "from the environment: $PODIUM_PARAM_PASSWORD"'],
        ],
    },
}
PIPE = {
    "id": "pipe",
    "parameters": [{"key": "password", "secret": True, "required": True}],
    "definition": {"type": "pipeline", "elements": [{"id": "inner", "job": "typed", "parameters": {"count": "2"}}]},
}
JOBS = [TYPED, PIPE]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """master, api and one worker on SQLite, the typed job applied over HTTP."""
    directory = tmp_path_factory.mktemp("parameters-stack")
    running = Stack(directory, f"sqlite+aiosqlite:///{directory}/podium.db")
    try:
        running.start(workers=1)
        applied = running.client.put("/admin/configuration", json={"projects": [{"id": "typed", "jobs": JOBS}]})
        assert applied.status_code == 200, applied.text
        yield running
    finally:
        running.stop()


def _refused(stack: Stack, **parameters: str) -> dict[str, Any]:
    response = stack.client.post("/projects/typed/jobs/typed/runs", json={"parameters": parameters})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    return problem


@pytest.mark.parametrize(
    ("parameters", "key"),
    [
        ({"count": "abc"}, "count"),
        ({"count": "1.5"}, "count"),
        ({"count": ""}, "count"),
        ({}, "count"),
        ({"count": "1", "ratio": "fast"}, "ratio"),
        ({"count": "1", "verbose": "maybe"}, "verbose"),
        ({"count": "1", "colour": "blue"}, "colour"),
        ({"count": "1", "tag": "latest"}, "tag"),
        ({"count": "1", "password": "short"}, "password"),
        ({"count": "1", "unknown": "x"}, "unknown"),
    ],
)
def test_a_value_not_of_its_type_is_422_naming_the_parameter(
    stack: Stack, parameters: dict[str, str], key: str
) -> None:
    """The trigger is refused before any run exists; the problem's errors name the parameter."""
    problem = _refused(stack, **parameters)
    assert [error["loc"] for error in problem["errors"]] == [["body", "parameters", key]], problem
    assert key in problem["detail"]


def test_values_are_passed_in_canonical_form(stack: Stack) -> None:
    """An integer loses its leading zeros and sign, a boolean its case; defaults fill the rest."""
    run = stack.trigger("typed", "typed", count="+007", verbose="TRUE", tag="v2")
    assert run["parameters"] == {
        "count": "7",
        "ratio": "0.5",
        "verbose": "true",
        "colour": "red",
        "tag": "v2",
        "password": "",
    }
    done = stack.wait_run("typed", run["id"], timeout=60)
    assert done["status"] == "succeeded", (done, stack.outputs())
    assert b"count=7 verbose=true password=\n" in stack.log("typed", run["id"])


def test_a_secret_parameter_is_masked_in_answers_and_in_the_log(stack: Stack) -> None:
    """The command gets the value (argv and environment); the api and the log show [masked]."""
    created = stack.trigger("typed", "typed", count="1", password=SECRET)
    assert created["parameters"]["password"] == "[masked]" and created["secret_parameters"] == ["password"]
    done = stack.wait_run("typed", created["id"], timeout=60)
    assert done["status"] == "succeeded", (done, stack.outputs())
    assert done["parameters"]["password"] == "[masked]"
    log = stack.log("typed", created["id"])
    assert b"password=[masked]\n" in log and b"from the environment: [masked]\n" in log, log
    answers = [
        stack.client.get(f"/projects/typed/runs/{created['id']}"),
        stack.client.get("/projects/typed/runs"),
        stack.client.get(f"/projects/typed/runs/{created['id']}/log"),
        stack.client.get(f"/projects/typed/runs/{created['id']}/archive"),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert SECRET.encode() not in answer.content, answer.request.url
    assert SECRET not in stack.outputs()


@pytest.mark.parametrize(
    ("schedule", "field", "says"),
    [
        ({"parameters": {}}, "schedules.0.parameters", "'count' of job 'typed' is required"),
        ({"parameters": {"count": "abc"}}, "schedules.0.parameters.count", "not an integer"),
        ({"parameters": {"count": "1", "colour": "blue"}}, "schedules.0.parameters.colour", "not one of the choices"),
        ({"parameters": {"count": "1", "who": "x"}}, "schedules.0.parameters.who", "no parameter 'who'"),
    ],
)
def test_put_configuration_refuses_a_schedule_its_job_cannot_take(
    stack: Stack, schedule: dict[str, Any], field: str, says: str
) -> None:
    """422 naming the field; nothing is applied (the project keeps no schedule)."""
    body = {
        "id": "typed",
        "jobs": JOBS,
        "schedules": [{"id": "s", "job": "typed", "expression": "0 3 * * *", **schedule}],
    }
    response = stack.client.put("/admin/configuration", json={"projects": [body]})
    assert response.status_code == 422, response.text
    problems = [error["msg"] for error in response.json()["errors"]]
    assert any(field in problem and says in problem for problem in problems), problems
    assert stack.client.get("/projects/typed/schedules").json() == []


def test_schedules_are_answered_with_their_next_fire_time(stack: Stack) -> None:
    """The api computes next_fire_at (UTC) by the master's rule; a disabled schedule has none."""
    body = {
        "id": "typed",
        "jobs": JOBS,
        "schedules": [{"id": "s", "job": "typed", "expression": "0 3 * * *", "parameters": {"count": "007"}}],
    }
    applied = stack.client.put("/admin/configuration", json={"projects": [body]})
    assert applied.status_code == 200, applied.text
    try:
        schedule = stack.client.get("/projects/typed/schedules/s").json()
        assert schedule["parameters"] == {"count": "7"}  # stored canonical
        fire = datetime.fromisoformat(schedule["next_fire_at"])
        now = datetime.now(UTC)
        assert (fire.hour, fire.minute, fire.second) == (3, 0, 0) and now < fire <= now + timedelta(days=1)
        assert [s["next_fire_at"] for s in stack.client.get("/projects/typed/schedules").json()] == [
            schedule["next_fire_at"]
        ]
        disabled = stack.client.post("/projects/typed/schedules/s/disable").json()
        assert disabled["next_fire_at"] is None
    finally:
        stack.client.put("/admin/configuration", json={"projects": [{"id": "typed", "jobs": JOBS}]})


def test_a_pipeline_passes_a_secret_down_masked(stack: Stack) -> None:
    """The child run gets the pipeline's secret value: its command sees it, its answers and log mask it."""
    parent = stack.trigger("typed", "pipe", password=SECRET)
    assert parent["parameters"] == {"password": "[masked]"}
    done = stack.wait_run("typed", parent["id"], timeout=60)
    assert done["status"] == "succeeded", (done, stack.outputs())
    children = [
        r for r in stack.client.get("/projects/typed/runs").json()["items"] if r["source"].get("run") == parent["id"]
    ]
    assert len(children) == 1 and children[0]["parameters"]["password"] == "[masked]", children
    assert children[0]["secret_parameters"] == ["password"]
    log = stack.log("typed", children[0]["id"])
    assert b"count=2 verbose=false password=[masked]\n" in log and SECRET.encode() not in log, log
