"""A run directory as the worker reads and removes it (`podium_worker.rundir`)."""

from __future__ import annotations

import json
from pathlib import Path

from podium_worker import _runfiles
from podium_worker.rundir import RunDirectory

FINAL = {"run_id": "r1", "status": "succeeded", "log_size": 0, "results": {}, "reason": None}


def _run_dir(tmp_path: Path) -> RunDirectory:
    path = tmp_path / "r1"
    (path / _runfiles.WORKSPACE).mkdir(parents=True)
    for name in (_runfiles.REQUEST, _runfiles.ERR, _runfiles.LOG, _runfiles.PID):
        (path / name).write_text("x")
    return RunDirectory(path)


def test_a_final_state_is_read_once(tmp_path: Path) -> None:
    """A final state never changes: once read, a later (even broken) file does not change the answer."""
    run_dir = _run_dir(tmp_path)
    assert run_dir.read_state() is None
    running = {**FINAL, "status": "running"}
    (run_dir.path / _runfiles.STATE).write_text(json.dumps(running))
    state = run_dir.read_state()
    assert state is not None and state.status == "running"
    (run_dir.path / _runfiles.STATE).write_text(json.dumps(FINAL))
    first = run_dir.read_state()
    assert first is not None and first.status == "succeeded"
    (run_dir.path / _runfiles.STATE).write_text("{broken")
    assert run_dir.read_state() == first


def test_an_empty_workspace_goes_quickly(tmp_path: Path) -> None:
    """Files and an empty workspace are removed without a tree walk."""
    run_dir = _run_dir(tmp_path)
    assert run_dir.delete_quickly() is True
    assert not run_dir.path.exists()
    assert run_dir.delete_quickly() is True  # already gone


def test_a_workspace_with_files_is_left_to_delete(tmp_path: Path) -> None:
    """A workspace holding files is not walked on the event loop: `delete` removes everything."""
    run_dir = _run_dir(tmp_path)
    (run_dir.path / _runfiles.WORKSPACE / "checkout").mkdir()
    (run_dir.path / _runfiles.WORKSPACE / "checkout" / "file").write_text("kept until delete")
    assert run_dir.delete_quickly() is False
    assert (run_dir.path / _runfiles.WORKSPACE / "checkout" / "file").exists()
    run_dir.delete()
    assert not run_dir.path.exists()
