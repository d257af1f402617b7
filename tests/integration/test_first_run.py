"""The first run, end to end through the real processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import DATABASES
from tests.integration.conftest import MONGODB, example_stack
from tests.stack import Stack
from tests.support import wait_until


@pytest.fixture(scope="module", params=[*DATABASES, MONGODB])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The example stack on SQLite, PostgreSQL and MongoDB: the first run must work on each."""
    with example_stack(request, tmp_path_factory) as running:
        yield running


def test_hello_succeeds_with_exact_log(stack: Stack) -> None:
    """Triggering `hello` over HTTP with a parameter ends `succeeded` with the exact log bytes."""
    run = stack.trigger("examples", "hello", name="Podium")
    assert run["status"] == "pending"
    assert run["parameters"] == {"name": "Podium"}

    done = stack.wait_run("examples", run["id"])

    assert done["status"] == "succeeded", stack.outputs()
    assert done["worker"] == "w1"
    assert done["results"] == {"greeted": True}
    assert stack.log("examples", run["id"]) == b"hello Podium\n"
    assert stack.log("examples", run["id"], offset=6) == b"Podium\n"


def test_two_commands_give_two_steps(stack: Stack) -> None:
    """The run of a two-command job answers two steps: rendered argv, exit codes, log offsets, times."""
    run = stack.trigger("examples", "hello", name="Podium")
    done = stack.wait_run("examples", run["id"])
    assert done["status"] == "succeeded", stack.outputs()

    steps = done["steps"]
    assert [(s["index"], s["argv"][0], s["exit_code"], s["log_offset"]) for s in steps] == [
        (1, "echo", 0, 0),
        (2, "sh", 0, len(b"hello Podium\n")),
    ], steps
    assert steps[0]["argv"] == ["echo", "hello Podium"]
    assert all(s["started_at"] <= s["completed_at"] for s in steps)
    assert steps[0]["completed_at"] <= steps[1]["started_at"]
    page = stack.client.get("/projects/examples/runs", params={"job": "hello", "limit": 1}).json()
    assert page["items"][0]["steps"] is None  # a page leaves them out


def test_failing_command_ends_failed(stack: Stack) -> None:
    """A command that exits non-zero ends the run `failed`."""
    run = stack.trigger("examples", "fail")

    done = stack.wait_run("examples", run["id"])

    assert done["status"] == "failed", stack.outputs()
    assert done["completed_at"] is not None
    assert [(s["index"], s["exit_code"], s["log_offset"]) for s in done["steps"]] == [(1, 1, 0)]


def test_a_long_run_stores_its_start_while_it_runs(stack: Stack) -> None:
    """The start of a run still going is stored about a second after the worker reports it.

    A short run writes its start with its final status (the master delays the start's write by
    `STEPS_WRITE_DELAY`); one that goes on past that delay must not stay without a `started_at`.
    """
    run = stack.trigger("examples", "slow")
    stack.wait_run("examples", run["id"], {"running"})

    def started() -> str | None:
        found: str | None = stack.run("examples", run["id"])["started_at"]
        return found

    started_at = wait_until(started, 30, "the running run's started_at stored")
    answer = stack.client.post(f"/projects/examples/runs/{run['id']}/abort")
    assert answer.status_code == 200, answer.text
    done = stack.wait_run("examples", run["id"])
    assert done["status"] == "aborted", stack.outputs()
    assert done["started_at"] == started_at
    assert done["started_at"] <= done["completed_at"]
