"""Container tests (`make test-containers`): the images and compose.yaml on a real Docker engine.

`make test` never runs them: their files are collected only when PODIUM_CONTAINER_TESTS=1, which
`make test-containers` sets after tests/containers/engine.sh made an engine answer and built the
stand-in base images (the public registry is out of reach here). The session builds the images
with the stand-ins as parameters, starts the stack from nothing (`down -v` first) under its own
project name, and removes it, volumes included, at the end. Talking to it: real HTTP to the
published web port, `docker compose` for everything else. test_jobs.py (jobs in containers)
needs none of that: it starts master, api and a `--containers docker` worker as processes, as
the other integration tests do, and uses only the stand-in images and the engine.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from podium_client._client import PodiumClient
from tests.support import CI, free_port, wait_until

REPOSITORY = Path(__file__).resolve().parents[2]
PROJECT = "podium-container-tests"
SECRETS = {
    "PODIUM_CONTROL_SECRET": "container-tests-control-secret",
    "PODIUM_ADMIN_PASSWORD": "container-tests-admin",
    "POSTGRES_PASSWORD": "container-tests-postgres",
}
# The jobs the tests run, applied through the api next to the example project.
CONFIGURATION = """
projects:
  - id: containers
    jobs:
      - id: ticks
        description: Prints "tick N" twice a second, COUNT times; the tests break things while it runs.
        parameters:
          - {key: count, default: "40"}
        definition:
          type: job
          commands:
            - ["sh", "-c", "for i in $(seq 1 {parameters.count}); do echo \\"tick $i\\"; sleep 0.5; done"]
          timeout: 600
"""
START_TIMEOUT = 300  # seconds for `up --wait`: a loaded 2-CPU machine starts five services slowly

if os.environ.get("PODIUM_CONTAINER_TESTS") != "1":
    collect_ignore_glob = ["test_*.py"]


def ticks(count: int) -> bytes:
    """The whole log of a `ticks` run of COUNT."""
    return "".join(f"tick {i}\n" for i in range(1, count + 1)).encode()


@dataclass
class Stack:
    """The compose project under test: `docker compose` calls and a logged-in API client."""

    env: dict[str, str]
    web_port: int
    client: PodiumClient = field(init=False)
    token: str = ""

    @property
    def url(self) -> str:
        """The published web port (the api is behind it at /api/v1)."""
        return f"http://127.0.0.1:{self.web_port}"

    def compose(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`docker compose -p PROJECT ARGS` in the repository, with the stack's variables."""
        result = subprocess.run(
            ["docker", "compose", "-p", PROJECT, *args],
            capture_output=True, text=True, timeout=timeout, cwd=REPOSITORY, env=self.env,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(
                f"docker compose {' '.join(args)} exited {result.returncode}:\n{result.stderr[-4000:]}"
            )
        return result

    def docker(self, *args: str, timeout: float = 120) -> str:
        """`docker ARGS`; its output."""
        result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, env=self.env)
        assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr[-2000:]}"
        return result.stdout

    def up(self, *args: str) -> None:
        """`up -d --wait` (health checks included), then a fresh login through the web port."""
        self.compose("up", "-d", "--wait", "--wait-timeout", str(START_TIMEOUT), *args, timeout=START_TIMEOUT + 120)
        self.login()

    def login(self) -> None:
        """Log in as the administrator through the web port (waiting for the api behind it)."""

        def token() -> str | None:
            try:
                return PodiumClient(self.url).login("admin", SECRETS["PODIUM_ADMIN_PASSWORD"]).token
            except Exception:  # not answering yet is what we wait through
                return None

        self.token = wait_until(token, 120, "a login through the web port")
        self.client = PodiumClient(self.url, token=self.token)

    def container(self, service: str, index: int = 1) -> str:
        """The container name of replica INDEX of SERVICE."""
        return f"{PROJECT}-{service}-{index}"

    def health(self, service: str, index: int = 1) -> str:
        """The engine's health status of a container (starting, healthy, unhealthy)."""
        return self.docker("inspect", "--format", "{{.State.Health.Status}}", self.container(service, index)).strip()

    def wait_final(self, project: str, run_id: str, timeout: float = 180) -> Any:
        """The run once it is final."""

        def final() -> Any:
            try:
                run = self.client.run(project, run_id)
            except Exception:  # the api may be restarting
                return None
            return run if run.status not in ("pending", "running") else None

        return wait_until(final, timeout, f"run {run_id} to end")

    def wait_running_with_log(self, project: str, run_id: str, timeout: float = 120) -> Any:
        """The run once it is running and some of its log reached the master."""

        def started() -> Any:
            run = self.client.run(project, run_id)
            return run if run.status == "running" and self.client.log(project, run_id) else None

        return wait_until(started, timeout, f"run {run_id} to be running with a log")


def stand_in_images() -> dict[str, str]:
    """Run engine.sh (engine up, stand-in base images built once) and return the variables it prints."""
    try:
        result = subprocess.run(
            [str(REPOSITORY / "tests" / "containers" / "engine.sh")], capture_output=True, text=True, timeout=1200
        )
    except subprocess.TimeoutExpired:
        problem = "tests/containers/engine.sh did not finish within 20 minutes"
    else:
        if result.returncode == 0:
            return dict(line.split("=", 1) for line in result.stdout.split() if "=" in line)
        problem = f"tests/containers/engine.sh failed: {result.stderr[-2000:]}"
    if CI:
        pytest.fail(problem)
    pytest.skip(f"container tests need a Docker engine: {problem}")


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """The stack built and started from nothing, with the test jobs applied; removed with its volumes after."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PODIUM_", "POSTGRES_", "COMPOSE_"))}
    env = {**clean, **SECRETS, **stand_in_images(), "DOCKER_BUILDKIT": "0"}
    env["PODIUM_WEB_PORT"] = str(free_port())
    stack = Stack(env, int(env["PODIUM_WEB_PORT"]))
    stack.compose("down", "-v", "--remove-orphans", timeout=300)
    stack.compose("--profile", "tools", "build", timeout=1800)
    try:
        stack.up()
        stack.client.apply(CONFIGURATION)
        yield stack
    finally:
        if os.environ.get("PODIUM_KEEP_STACK") != "1":  # keep it to look at a failure
            stack.compose("down", "-v", "--remove-orphans", timeout=600, check=False)
            # Each rebuild leaves the replaced images untagged: drop those, keep the layer cache.
            subprocess.run(["docker", "image", "prune", "-f"], capture_output=True, timeout=300, check=False)
