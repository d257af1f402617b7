"""Retention in a real master: old final runs and their logs go, recent ones and overrides stay."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from datetime import timedelta
from pathlib import Path

from podium_model import Run, RunStatus, utcnow
from podium_storage import DirectoryLogStore, open_storage
from tests.databases import sqlite_url
from tests.master.conftest import start_master
from tests.operations.helpers import configured_stack
from tests.support import wait_until


def _final_run(project: str, age: timedelta) -> Run:
    done = utcnow() - age
    return Run(
        project=project,
        id=str(uuid.uuid4()),
        job="hello",
        status=RunStatus.succeeded,
        created_at=done - timedelta(minutes=1),
        started_at=done - timedelta(seconds=30),
        completed_at=done,
        updated_at=done,
    )


async def _import(url: str, runs: list[Run]) -> None:
    async with open_storage(url) as storage:
        for run in runs:
            await storage.import_run(run)


async def _exists(url: str, run_id: str) -> bool:
    async with open_storage(url) as storage:
        return await storage.get_run(run_id) is not None


def test_master_prunes_old_runs_at_start(tmp_path: Path) -> None:
    """`--retention-days 1 --retention-project keep=0`: only the old `ops` run and its log are deleted."""
    url = sqlite_url(tmp_path)
    stack = configured_stack(tmp_path, url)
    old, recent = _final_run("ops", timedelta(days=10)), _final_run("ops", timedelta(hours=1))
    kept = _final_run("keep", timedelta(days=10))
    asyncio.run(_import(url, [old, recent, kept]))
    logs = DirectoryLogStore(stack.log_dir)
    for run in (old, recent, kept):
        asyncio.run(logs.append(run.project, run.id, 0, b"some output\n"))
    try:
        master = start_master(stack, "--retention-days", "1", "--retention-project", "keep=0")
        wait_until(lambda: "retention pass done: 1 runs deleted" in master.output, 60, "a retention pass")
        assert not asyncio.run(_exists(url, old.id))
        assert not logs.path(old.project, old.id).exists()
        for run in (recent, kept):
            assert asyncio.run(_exists(url, run.id))
            assert logs.path(run.project, run.id).read_bytes() == b"some output\n"
    finally:
        stack.stop()


def test_bad_retention_flag_is_refused(tmp_path: Path) -> None:
    """A retention override that is not PROJECT=DAYS stops the master with a clear message."""
    done = subprocess.run(
        ["podium-master", "--retention-project", "ops=soon"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "is not PROJECT=DAYS" in done.stderr
