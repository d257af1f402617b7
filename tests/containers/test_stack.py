"""The compose stack on a real engine, built, run and broken: every check goes through the published web port.

The tests share one stack (built and started from nothing by the `stack` fixture) and run in
file order: each leaves it healthy with one worker for the next.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.containers.conftest import REPOSITORY, Stack, ticks
from tests.support import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
EXTENSION = REPOSITORY / "tests" / "containers" / "worker-extension"
USERS_EXAMPLES = """
projects:
  - id: examples
    display_name: Examples, as the user keeps them
    jobs:
      - id: hello
        definition: {type: job, commands: [["echo", "hello"]]}
"""


def active_workers(stack: Stack) -> set[str]:
    """Ids of the workers the master holds as connected."""
    return {worker.id for worker in stack.client.workers() if worker.is_active}


def survives(stack: Stack, count: int, action: Callable[[], object]) -> None:
    """A `ticks` run of COUNT, ACTION while it runs: it still ends `succeeded` with a byte-identical log."""
    run = stack.client.trigger("containers", "ticks", {"count": str(count)})
    stack.wait_running_with_log("containers", run.id)
    action()
    final = stack.wait_final("containers", run.id)
    assert final.status == "succeeded", final
    assert stack.client.log("containers", run.id) == ticks(count)


def runs_and_logs(stack: Stack) -> dict[str, tuple[str, bytes]]:
    """Every run of the `containers` project: its status and log."""
    runs = stack.client.runs("containers", limit=200).items
    return {run.id: (run.status, stack.client.log("containers", run.id)) for run in runs}


def test_stack_starts_healthy_and_hello_runs_through_the_cli_image(stack: Stack) -> None:
    """From nothing every service is healthy; `docker compose run --rm cli trigger ... --wait` succeeds."""
    states = {
        entry["Service"]: entry
        for entry in map(json.loads, stack.compose("ps", "-a", "--format", "json").stdout.splitlines())
    }
    for service in ("postgres", "master", "api", "web", "worker"):
        assert states[service]["Health"] == "healthy", states[service]
    assert states["setup"]["State"] == "exited" and states["setup"]["ExitCode"] == 0, states["setup"]
    result = stack.compose(
        "run", "--rm", "--no-deps", "-e", f"PODIUM_TOKEN={stack.token}",
        "cli", "--json", "trigger", "examples", "hello", "-p", "name=containers", "--wait",
    )  # fmt: skip
    run = json.loads(result.stdout)
    assert run["status"] == "succeeded", run
    assert stack.client.log("examples", run["id"]) == b"hello containers\n"
    assert stack.client.run("examples", run["id"]).results == {"greeted": True}


def test_a_burst_lands_on_all_three_workers(stack: Stack) -> None:
    """`up --scale worker=3`: three workers with ids of their own; a burst of runs uses every one."""
    stack.up("--scale", "worker=3")
    wait_until(lambda: len(active_workers(stack)) == 3 or None, 120, "three active workers")
    assert active_workers(stack) == {"worker-1", "worker-2", "worker-3"}
    runs = [stack.client.trigger("containers", "ticks", {"count": "6"}) for _ in range(9)]
    finals = [stack.wait_final("containers", run.id) for run in runs]
    assert {run.status for run in finals} == {"succeeded"}
    assert {run.worker for run in finals} == {"worker-1", "worker-2", "worker-3"}
    stack.up("--scale", "worker=1")  # the other two drain (idle) and go
    wait_until(lambda: active_workers(stack) == {"worker-1"} or None, 120, "only worker-1 left")


def test_a_stopped_worker_drains_its_run_and_comes_back_as_itself(stack: Stack) -> None:
    """`docker compose stop worker` mid-run: the run finishes (drain) with its whole log; worker-1 comes back."""
    survives(stack, 10, lambda: stack.compose("stop", "worker", timeout=300))
    stack.up("--force-recreate", "worker")
    wait_until(lambda: active_workers(stack) == {"worker-1"} or None, 120, "worker-1 back")


def test_a_killed_and_recreated_worker_reports_its_run_from_its_home(stack: Stack) -> None:
    """`docker kill` mid-run, then a new container: the same worker finds the run in its home volume.

    The executor dies with the container (everything in it is killed), so the run cannot go on:
    it ends `exception` with the reason the worker read from its home, and the log the master
    holds is exactly what the executor wrote before it died. Without the home on a volume or with
    a new worker id, nothing would report it and the run would wait for the lost-worker timeout.
    """
    run = stack.client.trigger("containers", "ticks", {"count": "40"})
    stack.wait_running_with_log("containers", run.id)
    stack.docker("kill", stack.container("worker"))
    stack.up("--force-recreate", "worker")
    final = stack.wait_final("containers", run.id, timeout=60)
    assert final.status == "exception" and final.worker == "worker-1", final
    assert "executor died" in (final.reason or ""), final
    log = stack.client.log("containers", run.id)
    lines = log.decode().splitlines()
    assert 1 <= len(lines) < 40 and log == ticks(len(lines)), log
    assert active_workers(stack) == {"worker-1"}
    again = stack.client.trigger("containers", "ticks", {"count": "2"})
    assert stack.wait_final("containers", again.id).status == "succeeded"


def test_a_restarted_master_loses_nothing_of_a_run_in_flight(stack: Stack) -> None:
    """`docker compose restart master` mid-run: the run ends `succeeded` with a byte-identical log."""
    survives(stack, 30, lambda: stack.compose("restart", "master", timeout=300))


def test_an_upgrade_in_place_with_a_run_in_flight_loses_nothing(stack: Stack) -> None:
    """Rebuild the master and worker images with a new revision label and `up -d`: the run in flight still succeeds."""
    stack.compose("build", "--build-arg", "REVISION=upgrade-test", "master", "worker", timeout=900)
    survives(stack, 20, stack.up)  # re-creates the master and the worker (which drains its run first)
    for service in ("master", "worker"):
        labels = json.loads(stack.docker("inspect", "--format", "{{json .Config.Labels}}", stack.container(service)))
        assert labels["org.opencontainers.image.revision"] == "upgrade-test", (service, labels)


def test_down_then_up_keeps_projects_runs_and_logs(stack: Stack) -> None:
    """`docker compose down` (volumes kept) then `up`: the same projects, runs, logs and the user's configuration."""
    # The user's own version of the example project: setup must not put the example file back over it.
    stack.client.apply(USERS_EXAMPLES)
    before = {
        run.id: (run.status, stack.client.log("containers", run.id)) for run in stack.client.runs("containers").items
    }
    projects = {project.id for project in stack.client.projects()}
    assert len(before) >= 10 and {"examples", "containers"} <= projects
    stack.compose("down", timeout=600)
    stack.up()
    assert {project.id for project in stack.client.projects()} == projects
    after = {
        run.id: (run.status, stack.client.log("containers", run.id)) for run in stack.client.runs("containers").items
    }
    assert after == before
    assert [job.id for job in stack.client.jobs("examples")] == ["hello"]


def test_the_worker_turns_unhealthy_while_the_master_is_stopped(stack: Stack) -> None:
    """The worker's health check is its /health: stop the master, it turns unhealthy; start it, healthy again."""
    assert stack.health("worker") == "healthy"
    stack.compose("stop", "master", timeout=300)
    try:
        wait_until(lambda: stack.health("worker") == "unhealthy" or None, 120, "the worker to turn unhealthy")
    finally:
        stack.compose("start", "master", timeout=300)
    wait_until(lambda: stack.health("worker") == "healthy" or None, 180, "the worker to be healthy again")


def test_the_worker_image_extends_with_the_tools_jobs_need(stack: Stack) -> None:
    """The README's extension (`FROM podium/worker` + apt-get install git make) builds and keeps the non-root user."""
    tag = "podium-test/worker-with-tools:latest"
    stack.docker(
        "build", "-q", "--build-arg", "WORKER_IMAGE=podium/worker:latest", "-t", tag, str(EXTENSION), timeout=900
    )
    out = stack.docker(
        "run", "--rm", "--entrypoint", "sh", tag, "-c", "id -u; git --version; make --version | head -n 1"
    )
    uid, git, make = out.strip().splitlines()
    assert uid == "10001" and git.startswith("git version") and make.startswith("GNU Make"), out
    assert Path(EXTENSION / "Dockerfile").read_text() in (REPOSITORY / "deploy" / "README.md").read_text()
