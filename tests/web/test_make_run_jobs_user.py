"""`make run` started as root runs jobs as an unprivileged user: a job finds none of the stack's secrets."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import free_port, wait_until
from tests.web.test_make_run import missing_services, start_launcher

PASSWORD = "admin-pw-Rk41Zt"
# Walks the job's parents up to pid 1 (executor, worker, launcher, make...), printing each one's
# command line and environment where it can, then tries the worker's token file ({{ }}: literal braces).
PEEK = r"""
echo "uid=$(id -u)"
pid=$$
while [ "$pid" -gt 1 ]; do
  echo "pid $pid"
  tr '\0' ' ' < /proc/$pid/cmdline; echo
  tr '\0' '\n' < /proc/$pid/environ || echo "environ of $pid: refused"
  pid=$(awk '/^PPid:/ {{print $2}}' /proc/$pid/status)
done
cat "$TOKEN_FILE" || echo "token file: refused"
"""


@pytest.fixture
def reachable_home() -> Iterator[Path]:
    """A PODIUM_HOME the jobs' user can reach (pytest's temporary directories are root's alone)."""
    directory = Path(tempfile.mkdtemp(prefix="podium-jobs-user-", dir="/tmp"))
    directory.chmod(0o711)
    try:
        yield directory / "home"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="only a launcher started as root runs jobs as another user")
def test_a_root_launcher_runs_jobs_as_an_unprivileged_user(tmp_path: Path, reachable_home: Path) -> None:
    """The job runs as `podium-jobs`, reads no parent's environment and not the worker's token."""
    missing = missing_services()
    if missing:
        pytest.skip(f"the services are not built yet: cannot import {', '.join(missing)}")
    token_file = reachable_home / "worker.token"
    config = tmp_path / "podium.json"
    job = {"id": "peek", "definition": {"type": "job", "commands": [["sh", "-c", PEEK]],
                                        "environment": {"TOKEN_FILE": str(token_file)}}}  # fmt: skip
    config.write_text(json.dumps({"projects": [{"id": "peek", "jobs": [job]}]}))
    port = free_port()
    env = {
        "PODIUM_HOME": str(reachable_home),
        "PODIUM_WEB_PORT": str(port),
        "PODIUM_ADMIN_PASSWORD": PASSWORD,
        "PODIUM_MASTER_CONFIG": str(config),
        "PODIUM_WORKER_EXECUTOR_LIMIT": "1",
    }
    launcher = start_launcher(env, tmp_path)
    assert launcher.process is not None
    try:
        assert "jobs run as the unprivileged user podium-jobs" in launcher.output, launcher.output
        web = f"http://127.0.0.1:{port}/api/v1"
        login = httpx.post(f"{web}/me/login", json={"user": "admin", "password": PASSWORD}, timeout=10)
        assert login.status_code == 200, login.text
        with httpx.Client(base_url=web, headers={"Authorization": f"Bearer {login.json()['token']}"}) as client:
            created = client.post("/projects/peek/jobs/peek/runs", json={"parameters": {}}, timeout=10)
            assert created.status_code == 201, created.text
            run_id = created.json()["id"]

            def finished() -> dict[str, object] | None:
                run: dict[str, object] = client.get(f"/projects/peek/runs/{run_id}", timeout=10).json()
                return run if run["status"] not in {"pending", "running"} else None

            run = wait_until(finished, 60, f"run {run_id} to end")
            log = client.get(f"/projects/peek/runs/{run_id}/log", params={"offset": 0}, timeout=10).text
        assert run["status"] == "succeeded", (run.get("reason"), log)
        uid = int(subprocess.run(["id", "-u", "podium-jobs"], capture_output=True, text=True, check=True).stdout)
        assert f"uid={uid}\n" in log and uid != 0, log
        assert "environ of" in log and "token file: refused" in log, log
        secrets = {
            "admin password": PASSWORD,
            "worker token": token_file.read_text().strip(),
            "control secret": (reachable_home / "control.secret").read_text().strip(),
            "secrets key": (reachable_home / "secrets.key").read_text().strip(),
        }
        for what, value in secrets.items():
            assert value and value not in log, f"the job saw the {what}"
    finally:
        launcher.process.send_signal(signal.SIGINT)
        try:
            launcher.process.wait(60)
        except subprocess.TimeoutExpired:
            launcher.kill()
