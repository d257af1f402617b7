"""The compose stack on a real engine: images build, the stack starts healthy, a job runs, workers scale."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.containers.conftest import SECRETS
from tests.support import wait_until

REPOSITORY = Path(__file__).resolve().parents[2]


def web_url(docker_ip: str, docker_services: Any) -> str:
    """The web service's published URL (the api is behind it at /api/v1)."""
    return f"http://{docker_ip}:{docker_services.port_for('web', 8080)}"


def login(url: str) -> httpx.Client:
    """A client logged in as the administrator the setup service created."""
    answer = httpx.post(
        f"{url}/api/v1/me/login", json={"user": "admin", "password": SECRETS["PODIUM_ADMIN_PASSWORD"]}, timeout=10
    )
    answer.raise_for_status()
    return httpx.Client(
        base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {answer.json()['token']}"}, timeout=10
    )


def test_a_job_runs_end_to_end_through_the_api(docker_ip: str, docker_services: Any) -> None:
    """Trigger examples/hello through the web service; it succeeds on a container worker with its log."""
    client = login(web_url(docker_ip, docker_services))
    run = client.post("/projects/examples/jobs/hello/runs", json={"parameters": {"name": "containers"}}).json()

    def finished() -> dict[str, Any] | None:
        current: dict[str, Any] = client.get(f"/projects/examples/runs/{run['id']}").json()
        return current if current["status"] not in ("pending", "running") else None

    final = wait_until(finished, 120, "the run to end")
    assert final["status"] == "succeeded", final
    assert client.get(f"/projects/examples/runs/{run['id']}/log").text == "hello containers\n"


def test_workers_scale_to_three(docker_ip: str, docker_services: Any, docker_compose_project_name: str) -> None:
    """`docker compose up --scale worker=3` gives three active workers."""
    subprocess.run(
        ["docker", "compose", "-f", str(REPOSITORY / "compose.yaml"), "-p", docker_compose_project_name,
         "up", "-d", "--wait", "--scale", "worker=3"],
        check=True, timeout=600, cwd=REPOSITORY,
    )  # fmt: skip
    client = login(web_url(docker_ip, docker_services))

    def three_active() -> bool:
        return sum(1 for worker in client.get("/workers").json() if worker["is_active"]) >= 3

    wait_until(three_active, 120, "three active workers")
