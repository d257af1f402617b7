"""Container tests (`make test-containers`): the images and compose.yaml on a real Docker engine.

`make test` never runs them: their files are collected only when PODIUM_CONTAINER_TESTS=1
(which `make test-containers` sets, with the `containers` dependency group that brings
pytest-docker). Where no Docker engine answers, every test skips and says why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
SECRETS = {
    "PODIUM_CONTROL_SECRET": "container-tests-control-secret",
    "PODIUM_ADMIN_PASSWORD": "container-tests-admin",
    "POSTGRES_PASSWORD": "container-tests-postgres",
}

if os.environ.get("PODIUM_CONTAINER_TESTS") != "1":
    collect_ignore_glob = ["test_*.py"]


def engine_problem() -> str | None:
    """Why no Docker engine can be used here, or None when one answers."""
    if shutil.which("docker") is None:
        return "no `docker` command on this machine"
    try:
        info = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer within 20 s"
    if info.returncode != 0:
        return f"no Docker engine answers: {info.stderr.decode(errors='replace').strip()[:200]}"
    return None


@pytest.fixture(scope="session", autouse=True)
def docker_engine() -> None:
    """Skip every container test, with the reason, where no Docker engine answers."""
    problem = engine_problem()
    if problem is not None:
        pytest.skip(f"container tests need a Docker engine: {problem}")
    os.environ.update(SECRETS)  # compose reads them through interpolation


@pytest.fixture(scope="session")
def docker_compose_file() -> list[str]:
    """pytest-docker: the repository's compose file."""
    return [str(REPOSITORY / "compose.yaml")]


@pytest.fixture(scope="session")
def docker_compose_project_name() -> str:
    """pytest-docker: one project name for the session."""
    return "podium-container-tests"


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    """pytest-docker: build the images, then start the stack (waiting on the health checks)."""
    return ["build", "up -d --wait --wait-timeout 300"]


@pytest.fixture(scope="session")
def docker_cleanup() -> list[str]:
    """pytest-docker: remove the stack and its volumes."""
    return ["down -v"]
