"""`--log-format json` on master and worker: every output line is a JSON object with ids."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.databases import sqlite_url
from tests.master.conftest import start_master
from tests.operations.helpers import configured_stack, create_run, start_worker, wait_final
from tests.support import Service


def _entries(service: Service) -> list[dict[str, Any]]:
    lines = [line for line in service.output.splitlines() if line.strip()]
    assert lines, f"{service.name} printed nothing"
    entries = [json.loads(line) for line in lines]
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= entry.keys(), entry
    return entries


def test_json_logs_of_master_and_worker(tmp_path: Path) -> None:
    """Master and worker print only JSON lines; dispatch and connection lines carry run and worker ids."""
    stack = configured_stack(tmp_path, sqlite_url(tmp_path))
    try:
        master = start_master(stack, "--log-format", "json", "--log-level", "debug")
        worker = start_worker(stack, "w1", "--log-format", "json")
        run = create_run(stack, "hello")
        assert wait_final(stack, run.id).status.value == "succeeded"
        master_entries = _entries(master)
        assert any(e.get("run_id") == run.id and e.get("worker_id") == "w1" for e in master_entries)
        assert any(e["level"] == "DEBUG" for e in master_entries)
        assert any(e.get("worker_id") == "w1" for e in _entries(worker))
    finally:
        stack.stop()


def test_bad_log_level_is_refused() -> None:
    """An unknown `--log-level` stops the worker with a clear message and exit code 2."""
    argv = ["podium-worker", "--id", "w", "--token", "t", "--log-level", "chatty"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "log level 'CHATTY'" in done.stderr
