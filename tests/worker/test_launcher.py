"""The pre-forked executor launcher through the worker's own `RunSet`: files, deaths, reaping."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from podium_model.messages import RunRequest
from podium_worker.launch import Launcher
from podium_worker.runs import LocalRun, RunSet
from tests.worker.test_executor import execute, make_run, state


def request(run_id: str, commands: list[list[str]]) -> RunRequest:
    """A run request as the master sends it."""
    return RunRequest.model_validate(
        {
            "run_id": run_id,
            "project": "examples",
            "job": "hello",
            "parameters": {},
            "definition": {"type": "job", "commands": commands},
            "environment": {},
            "worker": {"id": "w1", "os": "linux"},
        }
    )


async def until(predicate: Callable[[], object], timeout: float = 20.0, what: str = "condition") -> None:
    """Wait (condition with deadline) without blocking the event loop that watches the pipes."""
    deadline = time.monotonic() + timeout
    pause = 0.002
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.05)


async def finished(run: LocalRun) -> dict[str, object]:
    """Wait for the run's final state (written by its executor, or by the worker for a lost one)."""
    await until(lambda: run.is_final, what=f"run {run.run_id} final")
    return state(run.dir.path)


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def children(pid: int) -> list[tuple[int, str]]:
    """(pid, state) of every process whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append((int(entry.name), fields[0]))
    return found


@pytest.fixture
async def runs(tmp_path: Path) -> AsyncIterator[RunSet]:
    """A worker's run set with its launcher."""
    runs = RunSet(tmp_path / "home", 65536, 0.2)
    try:
        yield runs
    finally:
        runs.close()


async def test_launched_run_has_the_files_of_a_direct_start(runs: RunSet, tmp_path: Path) -> None:
    """A run forked by the launcher leaves the same files as one started with `python -m`."""
    commands = [["echo", "hello"], ["sh", "-c", 'echo oops >&2; echo \'{{"n": 1}}\' > "$PODIUM_RESULTS"']]
    direct = make_run(tmp_path, commands)
    expected = execute(direct)
    run = runs.create(request("run-1", commands))
    final = await finished(run)
    assert run.process is None  # forked by the launcher, not spawned
    for key in ("run_id", "status", "log_size", "results", "reason"):
        assert final[key] == expected[key], key
    assert final["status"] == "succeeded"
    path = run.dir.path
    assert (path / "log").read_bytes() == (direct / "log").read_bytes() == b"hello\noops\n"
    assert json.loads((path / "results.json").read_text()) == {"n": 1}
    assert (direct / "executor.err").read_bytes() == b""
    assert not (path / "executor.err").exists()  # a forked executor creates it on its first diagnostic
    assert (path / "executor.pid").read_text() == (path / "spawned.pid").read_text()
    expected_files = {*(p.name for p in direct.iterdir()), "spawned.pid"} - {"executor.err"}
    assert sorted(p.name for p in path.iterdir()) == sorted(expected_files)


async def test_a_launched_executors_diagnostics_go_to_executor_err(runs: RunSet) -> None:
    """executor.err, created on the first write, holds what the executor notes; the log does not."""
    run = runs.create(request("run-1", [["sh", "-c", 'echo nope > "$PODIUM_RESULTS"; exit 3']]))
    final = await finished(run)
    assert final["status"] == "failed", final
    notes = (run.dir.path / "executor.err").read_text()
    assert "command 1 left invalid results in PODIUM_RESULTS" in notes, notes
    assert (run.dir.path / "executor.err").stat().st_mode & 0o777 == 0o600
    assert (run.dir.path / "log").read_bytes() == b""


async def test_killed_launcher_is_replaced_and_no_run_is_lost(runs: RunSet) -> None:
    """With the launcher killed, the next run starts directly, and the one after through a new launcher."""
    assert runs.launcher is not None and runs.launcher.process is not None
    old = runs.launcher.process
    old.send_signal(signal.SIGKILL)
    await until(lambda: old.poll() is not None, what="launcher dead")
    first = runs.create(request("run-1", [["echo", "one"]]))
    assert first.process is not None  # the direct start
    assert (await finished(first))["status"] == "succeeded"
    assert runs.launcher.process is not None and runs.launcher.process is not old
    second = runs.create(request("run-2", [["echo", "two"]]))
    assert second.process is None  # the new launcher forked it
    assert (await finished(second))["status"] == "succeeded"
    assert (second.dir.path / "log").read_bytes() == b"two\n"


async def test_executor_survives_the_launchers_death(runs: RunSet, tmp_path: Path) -> None:
    """Killing the launcher mid-run leaves the executor running in its own session to a success."""
    gate = tmp_path / "gate"
    run = runs.create(request("run-1", [["sh", "-c", f"while [ ! -e {gate} ]; do sleep 0.02; done; echo done"]]))
    pid_file = run.dir.path / "executor.pid"
    # Not only there: written (it is empty for an instant after its creation).
    await until(lambda: pid_file.exists() and pid_file.read_text().strip(), what="executor.pid written")
    pid = int(pid_file.read_text())
    assert os.getsid(pid) == pid
    assert os.readlink(f"/proc/{pid}/fd/2") == os.devnull  # neither the launcher's stderr nor a file yet
    assert runs.launcher is not None and runs.launcher.process is not None
    runs.launcher.process.kill()
    runs.launcher.process.wait()
    assert alive(pid)
    gate.touch()
    final = await finished(run)
    assert final["status"] == "succeeded", final
    assert (run.dir.path / "log").read_bytes() == b"done\n"


async def test_abort_reaches_a_launched_executor(runs: RunSet) -> None:
    """The worker's abort (abort.json, then SIGTERM to executor.pid) stops a launched run."""
    run = runs.create(request("run-1", [["sleep", "60"]]))
    await until(lambda: (run.dir.path / "executor.pid").exists(), what="executor.pid")
    run.dir.abort("stopped by the test", 5.0)
    final = await finished(run)
    assert (final["status"], final["reason"]) == ("aborted", "stopped by the test")


async def test_no_zombies_after_many_runs(runs: RunSet) -> None:
    """The launcher reaps every executor it forked."""
    started = [runs.create(request(f"run-{i}", [["true"]])) for i in range(20)]
    for run in started:
        assert (await finished(run))["status"] == "succeeded"
    assert runs.launcher is not None and runs.launcher.process is not None
    launcher = runs.launcher.process.pid
    await until(lambda: not children(launcher), what=f"no child left: {children(launcher)}")


async def test_launch_without_a_reply_falls_back_once(runs: RunSet) -> None:
    """A launcher that takes the request but never answers is replaced and the run starts directly."""
    assert runs.launcher is not None
    runs.launcher.close()
    runs.launcher = Launcher(timeout=0.3)
    runs.launcher.start()
    assert runs.launcher.process is not None
    stuck = runs.launcher.process
    stuck.send_signal(signal.SIGSTOP)
    run = runs.create(request("run-1", [["echo", "once"]]))
    final = await finished(run)
    assert final["status"] == "succeeded", final
    assert run.process is not None  # started directly once the launched one was known not to run
    assert (run.dir.path / "log").read_bytes() == b"once\n"
    assert stuck.poll() is not None and runs.launcher.process is not stuck


async def test_launcher_exits_with_the_worker(tmp_path: Path) -> None:
    """Closing the worker's end ends the launcher cleanly."""
    runs = RunSet(tmp_path / "home", 65536, 0.2)
    assert runs.launcher is not None and runs.launcher.process is not None
    process = runs.launcher.process
    runs.close()
    assert process.returncode == 0
