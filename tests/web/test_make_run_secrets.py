"""`make run` puts no secret on a command line: `ps -eo args` sampled from start to a finished run."""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from tests.databases import fresh_postgres
from tests.support import free_port, wait_until
from tests.web.test_make_run import missing_services, start_launcher

PASSWORD = "admin-pw-Qx7vW2"
DATABASE_PASSWORD = "db-pw-Kc93Lm"  # the test server trusts loopback: any password connects
SECRET_VALUE = "project-secret-Hy62Pa"
CONFIG = {
    "projects": [
        {
            "id": "ps",
            "jobs": [
                {
                    "id": "uses",
                    "definition": {"type": "job", "secrets": ["TOKEN"], "commands": [["sh", "-c", 'test -n "$TOKEN"']]},
                }
            ],
        }
    ]
}


@contextmanager
def sampled_arguments() -> Iterator[set[str]]:
    """Every command line `ps -eo args` shows while the block runs, sampled as fast as ps answers."""
    seen: set[str] = set()
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            listing = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=False).stdout
            seen.update(listing.splitlines())

    thread = threading.Thread(target=sample, name="ps sampler", daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(timeout=30)


@pytest.mark.slow
def test_no_secret_on_any_command_line(tmp_path: Path) -> None:
    """No admin or database password, control secret, worker token, secrets key or project secret in ps."""
    missing = missing_services()
    if missing:
        pytest.skip(f"the services are not built yet: cannot import {', '.join(missing)}")
    home = tmp_path / "home"
    port = free_port()
    with fresh_postgres() as url, sampled_arguments() as seen:
        parts = urlsplit(url)
        netloc = f"{parts.username or 'postgres'}:{DATABASE_PASSWORD}@{parts.hostname}:{parts.port or 5432}"
        env = {
            "PODIUM_HOME": str(home),
            "PODIUM_WEB_PORT": str(port),
            "PODIUM_ADMIN_PASSWORD": PASSWORD,
            "PODIUM_WORKER_EXECUTOR_LIMIT": "2",
            "PODIUM_DATABASE_URL": urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")),
        }
        launcher = start_launcher(env, tmp_path, timeout=120)
        assert launcher.process is not None
        try:
            web = f"http://127.0.0.1:{port}/api/v1"
            login = httpx.post(f"{web}/me/login", json={"user": "admin", "password": PASSWORD}, timeout=10)
            assert login.status_code == 200, login.text
            headers = {"Authorization": f"Bearer {login.json()['token']}"}
            with httpx.Client(base_url=web, headers=headers, timeout=30) as client:
                assert client.put("/admin/configuration", json={"projects": [{"id": "ps"}]}).status_code == 200
                assert client.put("/projects/ps/secrets/TOKEN", json={"value": SECRET_VALUE}).status_code == 200
                applied = client.put("/admin/configuration", json=CONFIG)
                assert applied.status_code == 200, applied.text
                run = client.post("/projects/ps/jobs/uses/runs", json={}).json()

                def finished() -> dict[str, object] | None:
                    found: dict[str, object] = client.get(f"/projects/ps/runs/{run['id']}").json()
                    return found if found["status"] not in {"pending", "running"} else None

                done = wait_until(finished, 60, "the run")
                assert done["status"] == "succeeded", (done, launcher.output)
            launcher.process.send_signal(signal.SIGINT)
            assert launcher.process.wait(60) == 0, launcher.output
        finally:
            if launcher.alive():
                launcher.kill()
    secrets = {
        "admin password": PASSWORD,
        "database password": DATABASE_PASSWORD,
        "project secret": SECRET_VALUE,
        "control secret": (home / "control.secret").read_text().strip(),
        "worker token": (home / "worker.token").read_text().strip(),
        "secrets key": (home / "secrets.key").read_text().strip(),
    }
    assert any("podium-worker" in line for line in seen) and any("podium_storage.admin" in line for line in seen)
    for what, value in secrets.items():
        shown = [line for line in seen if value in line]
        assert not shown, f"the {what} is on a command line: {shown}"
    for name in ("control.secret", "worker.token", "secrets.key", "database.url"):
        assert (home / name).stat().st_mode & 0o077 == 0, name
