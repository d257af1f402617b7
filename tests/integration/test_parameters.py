"""Typed and secret parameters end to end through the real processes (docs/jobs.md, Parameters)."""

from __future__ import annotations

from collections.abc import Iterator
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


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """master, api and one worker on SQLite, the typed job applied over HTTP."""
    directory = tmp_path_factory.mktemp("parameters-stack")
    running = Stack(directory, f"sqlite+aiosqlite:///{directory}/podium.db")
    try:
        running.start(workers=1)
        applied = running.client.put("/admin/configuration", json={"projects": [{"id": "typed", "jobs": [TYPED]}]})
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
