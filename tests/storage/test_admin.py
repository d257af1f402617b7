"""Tests of `python -m podium_storage.admin`: real processes for the commands, in-process for bad input."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from podium_storage import open_storage
from podium_storage.admin import main
from podium_storage.auth import hash_token, verify_password
from tests.databases import sqlite_url
from tests.support import python_module

CONFIG = "projects:\n  - id: p\n    jobs:\n      - id: j\n        definition: {type: job, commands: [[echo, hi]]}\n"


def admin(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the admin command as a process and capture its output."""
    return subprocess.run(
        python_module("podium_storage.admin", *args),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_admin_commands(database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """migrate, create-user and create-token work as real processes; create-user is idempotent."""
    url = ["--database-url", database_url]
    assert admin(*url, "migrate").returncode == 0
    created = admin(
        "create-user",
        "alice",
        "--role",
        "administrator",
        "--password",
        "one",
        env={"PODIUM_DATABASE_URL": database_url},
    )
    assert created.returncode == 0, created.stderr
    token = admin(*url, "create-token", "alice", "--description", "ci")
    assert token.returncode == 0, token.stderr
    secret = token.stdout.strip()
    assert len(secret) >= 43 and "\n" not in secret
    # In-process from here: each extra process costs seconds of imports.
    assert main([*url, "create-user", "alice", "--role", "viewer", "--password", "two"]) == 0
    config = tmp_path / "podium.yaml"
    config.write_text(CONFIG)
    assert main([*url, "apply", str(config)]) == 0
    assert capsys.readouterr().out.splitlines() == ["create project p", "create job p/j"]
    assert main([*url, "create-token", "alice", "--project", "p", "--operation", "trigger"]) == 0
    narrowed = capsys.readouterr().out.strip()

    async def check() -> None:
        async with open_storage(database_url) as storage:
            user = await storage.get_user("alice")
            assert user is not None and [r.value for r in user.roles] == ["viewer"]
            assert verify_password("two", await storage.get_password_hash("alice"))
            found = await storage.find_token(hash_token(secret))
            assert found is not None and found[0].description == "ci"
            ci = await storage.find_token(hash_token(narrowed))
            assert ci is not None and ci[0].projects == ["p"] and ci[0].operations == ["trigger"]
            assert await storage.get_job("p", "j") is not None

    asyncio.run(check())


def test_admin_apply_dry_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """apply --dry-run prints the changes without making them; a second apply prints no changes."""
    url = ["--database-url", sqlite_url(tmp_path)]
    config = tmp_path / "podium.yaml"
    config.write_text(CONFIG)
    assert main([*url, "migrate"]) == 0
    assert main([*url, "apply", str(config), "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines() == ["create project p", "create job p/j"]
    assert main([*url, "apply", str(config), "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines() == ["create project p", "create job p/j"]
    assert main([*url, "apply", str(config)]) == 0
    capsys.readouterr()
    assert main([*url, "apply", str(config)]) == 0
    assert capsys.readouterr().out.strip() == "no changes"


def test_admin_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Bad input exits 2 with a message on stderr and no traceback."""
    monkeypatch.delenv("PODIUM_DATABASE_URL", raising=False)
    url = ["--database-url", sqlite_url(tmp_path)]
    assert main([*url, "migrate"]) == 0
    bad_file = tmp_path / "bad.yaml"
    bad_file.write_text("projects:\n  - id: p\n    jobs:\n      - id: j\n        definition: {type: nope}\n")
    cases = [
        [*url, "create-token", "nobody"],
        [*url, "create-user", "x", "--password", ""],
        [*url, "apply", str(tmp_path / "missing.yaml")],
        [*url, "apply", str(bad_file)],
        ["--database-url", "ftp://x", "migrate"],
        ["migrate"],
    ]
    for args in cases:
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "Traceback" not in err, (args, err)
    for args in ([*url, "create-user", "x", "--role", "king"], [*url, "frobnicate"]):
        with pytest.raises(SystemExit) as caught:
            main(args)
        assert caught.value.code == 2


def test_admin_process_reports_bad_input(tmp_path: Path) -> None:
    """As a process, bad input exits 2 with a one-line error and no traceback."""
    result = admin("--database-url", "mysql://h/d", "migrate")
    assert result.returncode == 2 and result.stderr.startswith("error: unsupported database URL scheme")
    assert "Traceback" not in result.stderr and result.stdout == ""
