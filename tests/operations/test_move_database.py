"""Moving a Podium from SQLite to PostgreSQL with `podium admin export` / `import`.

Runs go through a real stack on SQLite; the database and its logs are exported with the
`podium` command, imported into a fresh PostgreSQL database, and an api started on each
database must then answer every resource identically.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.databases import fresh_postgres, sqlite_url
from tests.stack import ADMIN_PASSWORD, Stack, admin

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "podium.yaml"


def podium(*args: str) -> subprocess.CompletedProcess[str]:
    """The real `podium` command."""
    return subprocess.run(["podium", *args], capture_output=True, text=True, timeout=120)


def answers(api_url: str) -> dict[str, Any]:
    """What the api answers for every resource an administrator can read (the token itself aside)."""
    login = httpx.post(f"{api_url}/api/v1/me/login", json={"user": "admin", "password": ADMIN_PASSWORD}, timeout=10)
    login.raise_for_status()
    headers = {"Authorization": f"Bearer {login.json()['token']}"}
    seen: dict[str, Any] = {}
    with httpx.Client(base_url=f"{api_url}/api/v1", headers=headers, timeout=10) as client:

        def get(path: str, **params: Any) -> Any:
            response = client.get(path, params=params)
            assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
            seen[path + (f"?{params}" if params else "")] = body = (
                response.json() if "json" in response.headers["content-type"] else response.text
            )
            return body

        for project in get("/projects"):
            pid = project["id"]
            get(f"/projects/{pid}")
            for job in get(f"/projects/{pid}/jobs"):
                get(f"/projects/{pid}/jobs/{job['id']}")
            for schedule in get(f"/projects/{pid}/schedules"):
                get(f"/projects/{pid}/schedules/{schedule['id']}")
            for run in get(f"/projects/{pid}/runs", limit=200)["items"]:
                get(f"/projects/{pid}/runs/{run['id']}")
                get(f"/projects/{pid}/runs/{run['id']}/log")
                get(f"/projects/{pid}/runs/{run['id']}/results")
        get("/workers", limit=200)
        for user in get("/users"):
            get(f"/users/{user['id']}")
    return seen


def test_sqlite_to_postgresql_keeps_every_answer(tmp_path: Path) -> None:
    """Export from SQLite, import into PostgreSQL: the api answers the same for every resource."""
    source = Stack(tmp_path / "sqlite", sqlite_url(tmp_path), config=EXAMPLES)
    source.directory.mkdir()
    try:
        source.start(workers=1)
        runs = [source.trigger("examples", "hello", name="move"), source.trigger("examples", "fail")]
        for run in runs:
            source.wait_run("examples", run["id"])
        for service in [*source.workers.values(), source.master]:
            assert service is not None
            service.stop()
        source.workers.clear()
        source.master = None
        before = answers(source.api_url)
    finally:
        source.stop()

    backup = tmp_path / "backup.jsonl"
    exported = podium("admin", "export", str(backup), "--database-url", source.database_url,
                      "--logs", str(source.log_dir))  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    assert "exported" in exported.stdout

    with fresh_postgres() as target_url:
        target = Stack(tmp_path / "postgresql", target_url)
        target.directory.mkdir()
        # Secrets move sealed: the installation keeps its key when it changes databases.
        target.secrets_key = source.secrets_key
        target.secrets_key_file.write_text(source.secrets_key_file.read_text())
        admin(target_url, "migrate")
        imported = podium("admin", "import", str(backup), "--database-url", target_url, "--logs", str(target.log_dir))
        assert imported.returncode == 0, imported.stderr
        refused = podium("admin", "import", str(backup), "--database-url", target_url)
        assert refused.returncode == 2 and "not empty" in refused.stderr
        try:
            target.start_api()
            after = answers(target.api_url)
        finally:
            target.stop()

    assert after.keys() == before.keys()
    for path, body in before.items():
        assert after[path] == body, path
    assert any("/log" in path and "hello move" in str(body) for path, body in before.items())


def test_backup_needs_a_database_url(tmp_path: Path) -> None:
    """Without --database-url nor PODIUM_DATABASE_URL, export is a usage error that says what is missing."""
    result = subprocess.run(
        ["podium", "admin", "export", str(tmp_path / "b.jsonl")],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "PODIUM_DATABASE_URL"},
    )
    assert result.returncode == 2
    assert "--database-url" in result.stderr
