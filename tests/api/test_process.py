"""The real `podium-api` process: flags, health, login, trigger and the master notifications."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from tests.api.conftest import SECRET, ApiProcess
from tests.api.recording_master import RecordingMaster


def test_help_lists_the_flags() -> None:
    """`podium-api --help` exits 0 and names every flag of the architecture page."""
    result = subprocess.run(["podium-api", "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    for flag in ("--host", "--port", "--database-url", "--log-store", "--log-dir", "--master-url", "--control-secret"):
        assert flag in result.stdout


def test_the_database_log_store_on_sqlite_is_refused_at_start(tmp_path: Path) -> None:
    """`--log-store database` with a SQLite URL exits 2 and says which store to use instead."""
    result = subprocess.run(
        ["podium-api", "--log-store", "database", "--database-url", f"sqlite:///{tmp_path}/podium.db"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--log-store database needs PostgreSQL or MongoDB" in result.stderr
    assert "--log-store directory" in result.stderr and "Traceback" not in result.stderr


def test_process_serves_login_trigger_and_notifies_the_master(api_process: ApiProcess, master: RecordingMaster) -> None:
    """Login, trigger and cancel over HTTP; the master hears dispatch and cancel with the secret.

    The recording master answers no cancellation, so the api records the request (202). On
    PostgreSQL the run's insert wakes the masters itself (NOTIFY): the api sends no dispatch.
    """
    announced = api_process.database_url.startswith("postgresql")
    with httpx.Client(base_url=api_process.url, timeout=10) as client:
        health = client.get("/health").json()
        assert health == {**health, "status": "ok", "database": "ok", "master": "ok"}
        login = client.post("/me/login", json={"user": "admin", "password": "pw-admin-1"})
        assert login.status_code == 200, login.text
        client.headers["Authorization"] = f"Bearer {login.json()['token']}"
        run = client.post("/projects/demo/jobs/hello/runs", json={"parameters": {"name": "you"}})
        assert run.status_code == 201, run.text
        if not announced:
            assert master.wait_call("/control/dispatch").secret == SECRET
        run_id = run.json()["id"]
        assert client.post(f"/projects/demo/runs/{run_id}/cancel").status_code == 202
        assert master.wait_call(f"/control/runs/{run_id}/cancel").secret == SECRET
        if announced:  # the cancel came after the trigger: a dispatch call would have come before
            assert "/control/dispatch" not in [call.path for call in master.calls]
        assert client.get("/openapi.json").json()["paths"]
        assert client.get("/docs").status_code == 200


def test_trigger_lands_while_the_master_is_down(api_process: ApiProcess, master: RecordingMaster) -> None:
    """With the master stopped, a trigger still answers 201 and health says degraded."""
    master.stop()
    with httpx.Client(base_url=api_process.url, timeout=10) as client:
        assert client.get("/health").json()["status"] == "degraded"
        token = client.post("/me/login", json={"user": "admin", "password": "pw-admin-1"}).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        run = client.post("/projects/demo/jobs/hello/runs", json={})
        assert run.status_code == 201, run.text
        assert client.get(f"/projects/demo/runs/{run.json()['id']}").json()["status"] == "pending"
