"""The executor's stops and its notification pipe: timeout, abort, SIGKILL after grace, a dead reader."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.support import wait_until
from tests.worker.test_executor import execute, make_run, start, state

BACKGROUND_SLEEP = "sleep 60 & echo $! > sleep.pid; wait"
"""A command whose child `sleep` pid the test can check after the group was signalled."""


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def sleep_pid(run_dir: Path) -> int:
    """The pid of the background `sleep` once the command has written it."""
    return int(read_when_written(run_dir / "workspace" / "sleep.pid"))


def read_when_written(path: Path) -> str:
    """The content of `path` once it exists and is not empty."""

    def content() -> str | None:
        return path.read_text().strip() if path.exists() else None

    return wait_until(content, what=path.name)


def abort(run_dir: Path, reason: str, grace: float) -> None:
    """Ask for an abort as the worker does: abort.json, then SIGTERM to the executor."""
    (run_dir / "abort.json").write_text(json.dumps({"reason": reason, "grace": grace}))
    pid = int(read_when_written(run_dir / "executor.pid"))
    os.kill(pid, signal.SIGTERM)


def test_timeout_aborts(tmp_path: Path) -> None:
    """A run longer than its timeout ends `aborted` with the reason, and its command group is gone."""
    run_dir = make_run(tmp_path, [["echo", "before"], ["sh", "-c", BACKGROUND_SLEEP], ["touch", "later"]], timeout=1)
    process = start(run_dir)
    child = sleep_pid(run_dir)
    assert process.wait(timeout=10) == 0
    final = state(run_dir)
    assert (final["status"], final["reason"]) == ("aborted", "timeout after 1 s")
    assert (run_dir / "log").read_bytes() == b"before\n"
    assert not (run_dir / "workspace" / "later").exists()
    assert not alive(child)


def test_abort_kills_the_group(tmp_path: Path) -> None:
    """abort.json plus SIGTERM stops a `sleep 60` at once, kills its group and ends `aborted`."""
    run_dir = make_run(tmp_path, [["sh", "-c", "echo started; " + BACKGROUND_SLEEP], ["touch", "later"]])
    process = start(run_dir)
    child = sleep_pid(run_dir)
    assert state(run_dir)["status"] == "running"
    began = time.monotonic()
    abort(run_dir, "stopped by alice", grace=30)
    assert process.wait(timeout=10) == 0
    assert time.monotonic() - began < 5  # SIGTERM sufficed: the 30 s grace was not waited
    final = state(run_dir)
    assert (final["status"], final["reason"]) == ("aborted", "stopped by alice")
    assert (run_dir / "log").read_bytes() == b"started\n"
    assert final["log_size"] == len(b"started\n")
    assert not (run_dir / "workspace" / "later").exists()
    assert not alive(child)


def test_sigterm_ignored_gets_sigkill_after_grace(tmp_path: Path) -> None:
    """A command group that ignores SIGTERM is killed with SIGKILL once the grace has passed."""
    run_dir = make_run(tmp_path, [["sh", "-c", "trap '' TERM; echo stubborn; " + BACKGROUND_SLEEP + "; wait"]])
    process = start(run_dir)
    child = sleep_pid(run_dir)
    began = time.monotonic()
    abort(run_dir, "stop now", grace=0.5)
    assert process.wait(timeout=10) == 0
    assert 0.5 <= time.monotonic() - began < 5
    final = state(run_dir)
    assert (final["status"], final["reason"]) == ("aborted", "stop now")
    assert (run_dir / "log").read_bytes() == b"stubborn\n"
    assert not alive(child)


def test_abort_before_start_runs_nothing(tmp_path: Path) -> None:
    """An abort requested before the executor started ends the run `aborted` without a command."""
    run_dir = make_run(tmp_path, [["touch", "first"]])
    (run_dir / "abort.json").write_text(json.dumps({"reason": "changed my mind", "grace": 1}))
    final = execute(run_dir)
    assert (final["status"], final["reason"]) == ("aborted", "changed my mind")
    assert not (run_dir / "workspace" / "first").exists()


def test_bare_sigterm_aborts(tmp_path: Path) -> None:
    """A SIGTERM without abort.json (e.g. a host shutdown) still ends the run `aborted`."""
    run_dir = make_run(tmp_path, [["sh", "-c", BACKGROUND_SLEEP]])
    process = start(run_dir)
    child = sleep_pid(run_dir)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    final = state(run_dir)
    assert final["status"] == "aborted" and "signal" in final["reason"]
    assert not alive(child)


def test_leftover_process_holding_the_pipe_is_killed(tmp_path: Path) -> None:
    """A background process left by a finished command neither keeps the run alive nor survives it."""
    run_dir = make_run(tmp_path, [["sh", "-c", "sleep 60 & echo $! > sleep.pid; echo done"], ["echo", "next"]])
    final = execute(run_dir, timeout=10)
    assert final["status"] == "succeeded"
    assert (run_dir / "log").read_bytes() == b"done\nnext\n"
    assert not alive(int((run_dir / "workspace" / "sleep.pid").read_text()))


def test_notification_bytes(tmp_path: Path) -> None:
    """The executor writes a byte to stdout after its log writes and state changes."""
    run_dir = make_run(tmp_path, [["echo", "one"], ["echo", "two"]])
    process = start(run_dir, stdout=subprocess.PIPE)
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert len(out) >= 4  # running, two log writes, final
    assert state(run_dir)["status"] == "succeeded"


def test_run_finishes_when_the_reader_is_gone(tmp_path: Path) -> None:
    """Closing the notification pipe mid-run (the worker died) does not disturb the run."""
    fifo = tmp_path / "gate"
    os.mkfifo(fifo)
    many = "i=0; while [ $i -lt 200 ]; do echo line $i; i=$((i+1)); done"
    run_dir = make_run(tmp_path, [["sh", "-c", f'echo one; cat "$1"; {many}', "_", str(fifo)], ["echo", "two"]])
    process = start(run_dir, stdout=subprocess.PIPE)
    assert process.stdout is not None
    log = run_dir / "log"
    wait_until(lambda: log.exists() and log.read_bytes() == b"one\n", what="first output")
    process.stdout.close()
    with fifo.open("w") as gate:
        gate.write("mid\n")
    assert process.wait(timeout=30) == 0
    final = state(run_dir)
    assert final["status"] == "succeeded"
    expected = b"one\nmid\n" + b"".join(b"line %d\n" % i for i in range(200)) + b"two\n"
    assert (run_dir / "log").read_bytes() == expected
