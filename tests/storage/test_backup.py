"""Export and import of a whole database: SQLite to SQLite, PostgreSQL and MongoDB, with logs."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from podium_model import RunFilter, RunSource, RunStatus, RunUpdate, UserUpdate, WorkerUpdate, utcnow
from podium_model.access import ProjectPermission, ProjectRole
from podium_model.config import JobConfig, ScheduleConfig
from podium_model.users import Role
from podium_storage import DirectoryLogStore, LogStore, Storage, migrate, open_storage
from podium_storage import backup as backup_module
from podium_storage.admin import main
from podium_storage.auth import hash_password, hash_token
from podium_storage.backup import BackupError, export_database, import_database
from podium_storage.sealing import SecretsKeys, generate_key
from tests.databases import sqlite_url
from tests.support import python_module

JOB = {"definition": {"type": "job", "commands": [["echo", "hi"]], "environment": {"A.B": "$x"}}}
FIRST_LOG = b"first line\n\x00\xff binary"
PIPELINE = {"definition": {"type": "pipeline", "elements": [{"id": "one", "job": "build"}]}}
KEYS = SecretsKeys.parse(generate_key())
SECRET_VALUE = "a-deploy-key-in-clear"


async def fill(storage: Storage, logs: LogStore) -> None:
    """Store one of every kind of entity, in several states, with logs."""
    await storage.put_project("web", "Web", {"git": {"url": "https://example.com/x.git", "$odd.key": 1}})
    await storage.put_project("empty")
    for n in range(4):  # several pages of audit entries too
        await storage.record_audit("admin", "user.disable", f"user/u{n}", {"n": n, "key.with$odd": [n]})
    parameters = [{"key": "name", "default": "world", "required": True}]
    await storage.put_job("web", JobConfig.model_validate({"id": "build", **JOB, "parameters": parameters}))
    await storage.put_job("web", JobConfig.model_validate({"id": "flow", **PIPELINE, "properties": {"os": "linux"}}))
    await storage.set_job_enabled("web", "flow", False)
    await storage.put_schedule("web", ScheduleConfig(id="nightly", job="build", expression="0 2 * * *"))
    await storage.put_schedule("web", ScheduleConfig(id="off", job="build", expression="* * * * *", is_enabled=False))
    await storage.put_secret("web", "DEPLOY_KEY", KEYS.seal("web", "DEPLOY_KEY", SECRET_VALUE))
    await storage.put_secret("web", "API_TOKEN", KEYS.seal("web", "API_TOKEN", "another-value"))
    await storage.create_user("alice", "Alice", [Role.administrator, Role.viewer])
    await storage.create_user("bob")
    await storage.update_user("bob", UserUpdate(is_enabled=False))
    await storage.add_credential("alice", "password", hash_password("secret"), "password")
    await storage.add_credential("alice", "token", hash_token("t1"), "ci", utcnow() + timedelta(days=3))
    await storage.add_credential(
        "bob", "token", hash_token("t2"), projects=["web"], operations=[ProjectPermission.trigger]
    )
    await storage.put_group("team", "Team", ["alice", "bob"])
    await storage.put_grant("web", "group", "team", ProjectRole.viewer)
    await storage.put_grant("web", "user", "bob", ProjectRole.maintainer)
    await storage.put_grant("empty", "user", "carol", ProjectRole.operator)  # a user to come
    await storage.put_worker("w1", "alice", WorkerUpdate(version="1.0", properties={"os": "linux"}, is_active=True))
    await storage.put_worker("w2", "bob", WorkerUpdate(executor_limit=4, last_seen=utcnow(), is_enabled=False))
    for number in range(7):
        await storage.create_run("web", "build", {"name": str(number)}, RunSource(type="user", user="alice"))
    source = RunSource(type="schedule", schedule="nightly")
    scheduled = await storage.create_run("web", "build", {}, source)
    await storage.set_schedule_fired("web", "nightly", scheduled.id, utcnow())
    running = await storage.create_run("web", "flow", {}, RunSource(type="pipeline", run=scheduled.id, element="e"))
    now = utcnow()
    await storage.transition_run(
        running.id, [RunStatus.pending], RunStatus.running, RunUpdate(worker="w1", assigned_at=now, started_at=now)
    )
    await storage.update_run(running.id, RunUpdate(should_cancel=True, waiting_reason="busy"))
    done = await storage.list_pending_runs(limit=3)
    for run, status in zip(done, [RunStatus.succeeded, RunStatus.failed, RunStatus.exception], strict=True):
        changes = RunUpdate(worker="w2", completed_at=utcnow(), results={"out": [1, {"x.y": None}]}, reason="why")
        assert await storage.transition_run(run.id, [RunStatus.pending], status, changes) is not None
    await logs.append("web", running.id, 0, FIRST_LOG)
    await logs.append("web", done[0].id, 0, b"x" * (backup_module.LOG_CHUNK + 10))


async def snapshot(storage: Storage) -> dict[str, Any]:
    """Every answer of every `get_*` and `list_*` method, for comparison."""
    answers: dict[str, Any] = {"projects": await storage.list_projects(), "jobs": await storage.list_jobs()}
    answers["schedules"] = await storage.list_schedules()
    answers["users"] = await storage.list_users()
    answers["workers"] = await storage.list_workers()
    answers["credentials"] = await storage.export_credentials()
    answers["secrets"] = await storage.export_secrets()
    answers["groups"] = await storage.list_groups()
    answers["grants"] = await storage.list_grants()
    for user in ("alice", "bob", "carol"):
        answers[f"grants of {user}"] = await storage.grants_of(user)
    for project in answers["projects"]:
        answers[f"secrets {project.id}"] = await storage.list_secrets(project.id)
        answers[f"project {project.id}"] = await storage.get_project(project.id)
        answers[f"jobs {project.id}"] = await storage.list_jobs(project.id)
        answers[f"schedules {project.id}"] = await storage.list_schedules(project.id)
    for job in answers["jobs"]:
        answers[f"job {job.project}/{job.id}"] = await storage.get_job(job.project, job.id)
    for schedule in answers["schedules"]:
        answers[f"schedule {schedule.id}"] = await storage.get_schedule(schedule.project, schedule.id)
    for user in answers["users"]:
        answers[f"user {user.id}"] = await storage.get_user(user.id)
        answers[f"credentials {user.id}"] = await storage.list_credentials(user.id)
        answers[f"tokens {user.id}"] = await storage.list_credentials(user.id, "token")
        answers[f"password {user.id}"] = await storage.get_password_hash(user.id)
    for secret in ("t1", "t2"):
        answers[f"token {secret}"] = await storage.find_token(hash_token(secret))
    for worker in answers["workers"]:
        answers[f"worker {worker.id}"] = await storage.get_worker(worker.id)
    pages, cursor = [], None
    while True:
        page = await storage.list_runs(RunFilter(), limit=4, cursor=cursor)
        pages.append(page)
        if (cursor := page.next_cursor) is None:
            break
    answers["run pages"] = pages
    for run in [run for page in pages for run in page.items]:
        answers[f"run {run.id}"] = await storage.get_run(run.id)
    answers["pending"] = await storage.list_pending_runs()
    answers["active"] = await storage.list_active_runs()
    answers["active w1"] = await storage.list_active_runs("w1")
    answers["by source"] = await storage.list_runs(RunFilter(source="schedule"))
    answers["by status"] = await storage.list_runs(RunFilter(status=[RunStatus.failed], worker="w2"))
    answers["audit"] = await storage.list_audit()
    return answers


@pytest.fixture
async def source_url(tmp_path: Path) -> str:
    """A migrated SQLite database filled with every kind of entity; its logs in `tmp_path/logs`."""
    (tmp_path / "source").mkdir()
    url = sqlite_url(tmp_path / "source")
    await migrate(url)
    async with open_storage(url) as storage:
        await fill(storage, DirectoryLogStore(tmp_path / "logs"))
    return url


async def test_export_import_round_trip(
    storage: Storage, source_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite exported and imported into each backend answers every get/list the same, logs included
    (into the database log store on PostgreSQL and MongoDB, the directory store on SQLite)."""
    monkeypatch.setattr(backup_module, "RUN_PAGE", 3)  # several pages of runs
    out = io.StringIO()
    async with open_storage(source_url) as source:
        counts = await export_database(source, out, DirectoryLogStore(tmp_path / "logs"))
        expected = await snapshot(source)
    assert counts["run"] == 9 and counts["credential"] == 3 and counts["log"] == 3 and counts["secret"] == 2
    assert SECRET_VALUE not in out.getvalue()  # secrets travel sealed
    assert counts["group"] == 1 and counts["grant"] == 3
    try:
        target_logs: LogStore = storage.database_logs(tmp_path / "imported")
    except ValueError:  # SQLite keeps logs in files only
        target_logs = DirectoryLogStore(tmp_path / "imported")
    imported = await import_database(storage, out.getvalue().splitlines(), target_logs)
    assert imported["run"] == 9 and imported["log bytes"] == backup_module.LOG_CHUNK + 10 + len(FIRST_LOG)
    assert await snapshot(storage) == expected
    sealed = await storage.get_sealed_secrets("web", ["DEPLOY_KEY"])
    assert KEYS.open("web", "DEPLOY_KEY", sealed["DEPLOY_KEY"]) == SECRET_VALUE
    for run in (await storage.list_runs(RunFilter())).items:
        assert await target_logs.read("web", run.id) == await DirectoryLogStore(tmp_path / "logs").read("web", run.id)
    again = io.StringIO()
    await export_database(storage, again, target_logs)
    assert again.getvalue().splitlines()[1:] == out.getvalue().splitlines()[1:]


async def test_import_refuses_non_empty_unless_merge(storage: Storage, source_url: str, tmp_path: Path) -> None:
    """A non-empty target is refused; --merge keeps what exists and imports the rest."""
    out = io.StringIO()
    async with open_storage(source_url) as source:
        await export_database(source, out, DirectoryLogStore(tmp_path / "logs"))
        expected = await snapshot(source)
    lines = out.getvalue().splitlines()
    await storage.put_project("web", "Mine")
    with pytest.raises(BackupError, match="not empty"):
        await import_database(storage, lines)
    counts = await import_database(storage, lines, DirectoryLogStore(tmp_path / "merged"), merge=True)
    assert counts["project skipped"] == 1 and counts["project"] == 1 and counts["run"] == 9
    project = await storage.get_project("web")
    assert project is not None and project.display_name == "Mine"
    again = await import_database(storage, lines, DirectoryLogStore(tmp_path / "merged"), merge=True)
    assert again["run skipped"] == 9 and "run" not in again and "log bytes" not in again
    assert (await snapshot(storage))["run pages"] == expected["run pages"]


def _lines(*items: dict[str, Any] | str) -> list[str]:
    header = {"kind": "header", "data": {"format": "podium-export", "version": 1}}
    return [item if isinstance(item, str) else json.dumps(item) for item in (header, *items)]


END = {"kind": "end", "data": {"counts": {}}}


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "empty"),
        (['{"kind": "project", "data": {}}'], "first line must be its header"),
        (['{"kind": "header", "data": {"format": "podium-export", "version": 9}}'], "version 9"),
        (_lines("{not json"), "line 2: not JSON"),
        (_lines({"kind": "thing", "data": {}}), "line 2: unknown kind 'thing'"),
        (_lines({"kind": "project", "data": {"id": "p"}}), "line 2: invalid project: created_at"),
        (_lines({"kind": "job", "data": {"project": "nope", "id": "j", "created_at": "2024-01-01T00:00:00Z",
                 "updated_at": "2024-01-01T00:00:00Z", **JOB}}), "line 2: .*unknown project|line 2: constraint"),
        (_lines({"kind": "log", "data": {"project": "p", "run": "r", "offset": 0, "data": "%%%"}}), "malformed log"),
        (_lines(), "cut short"),
        (_lines(END, {"kind": "project", "data": {}}), "after the end"),
    ],
)  # fmt: skip
async def test_import_rejects_bad_files(storage: Storage, lines: list[str], message: str) -> None:
    """A malformed export is refused with a message naming the line."""
    with pytest.raises(BackupError, match=message):
        await import_database(storage, lines)


def test_admin_export_import(source_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`admin export` (a real process) then `admin import` into a fresh database, with exit codes for bad input."""
    import subprocess

    file = tmp_path / "backup.jsonl"
    command = python_module("podium_storage.admin", "--database-url", source_url, "export", str(file))
    exported = subprocess.run([*command, "--logs", str(tmp_path / "logs")], capture_output=True, text=True, timeout=60)
    assert exported.returncode == 0, exported.stderr
    assert "9 run" in exported.stdout and not (tmp_path / "backup.jsonl.partial").exists()
    (tmp_path / "target").mkdir()
    target = sqlite_url(tmp_path / "target")
    assert main(["--database-url", target, "migrate"]) == 0
    assert main(["--database-url", target, "import", str(file), "--logs", str(tmp_path / "copy")]) == 0
    assert "imported" in capsys.readouterr().out
    assert main(["--database-url", target, "import", str(file)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["--database-url", target, "import", str(file), "--merge", "--log-store", "database"]) == 2
    assert "--log-store database needs PostgreSQL or MongoDB" in capsys.readouterr().err
    assert main(["--database-url", target, "import", str(file), "--merge"]) == 0
    assert main(["--database-url", target, "import", str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["--database-url", target, "export", str(tmp_path / "no" / "dir.jsonl")]) == 2
    assert "cannot write" in capsys.readouterr().err
