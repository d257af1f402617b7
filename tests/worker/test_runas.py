"""`--run-as`: commands run as an unprivileged user who cannot read the worker's files.

These tests need root (as the development machine and CI run them); the job user is `nobody`.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.worker.test_executor import execute, make_run

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="running commands as another user needs root")

USER = "nobody"
RUN_AS = {"PODIUM_WORKER_RUN_AS": USER}


@pytest.fixture
def home() -> Iterator[Path]:
    """A worker home the job user can reach (pytest's own temporary tree is root's, mode 0700)."""
    path = Path(tempfile.mkdtemp(prefix="podium-runas-"))
    path.chmod(0o711)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def test_commands_run_as_the_user_with_its_workspace_and_results(home: Path) -> None:
    """The command's uid, gid, HOME and USER are the user's; it writes its workspace and its
    results; once the run is over the workspace is root's again."""
    user = pwd.getpwnam(USER)
    write = (
        'id -u; id -g; echo "$HOME $USER"; echo mine > mine; printf \'{{"u": "%s"}}\' "$(id -u)" > "$PODIUM_RESULTS"'
    )
    run_dir = make_run(home, [["sh", "-c", write]])
    final = execute(run_dir, env=RUN_AS)
    assert final["status"] == "succeeded", ((run_dir / "log").read_text(), (run_dir / "executor.err").read_text())
    assert (run_dir / "log").read_text() == f"{user.pw_uid}\n{user.pw_gid}\n{user.pw_dir} {USER}\n"
    assert final["results"] == {"u": str(user.pw_uid)}
    assert (run_dir / "workspace" / "mine").stat().st_uid == user.pw_uid
    assert (run_dir / "workspace").stat().st_uid == 0
    for name in ("request.json", "state.json", "log"):
        mode = (run_dir / name).stat()
        assert mode.st_uid == 0 and stat.S_IMODE(mode.st_mode) == 0o600, name


def test_a_job_cannot_read_the_workers_token_or_another_runs_files(home: Path) -> None:
    """As the user, a job reads neither the worker's token file, nor a listing of its runs, nor
    another run's workspace, request, log or state, nor its executor's environment."""
    token = home / "token"
    token.write_text("worker-token-value")
    token.chmod(0o600)
    runs = home / "runs"
    runs.mkdir(mode=0o711)
    first = make_run(runs / "a", [["sh", "-c", "echo private-data > kept"]])
    assert execute(first, env=RUN_AS)["status"] == "succeeded"
    files = [token, first / "workspace" / "kept", first / "request.json", first / "log", first / "state.json"]
    folders = [home, runs, first / "workspace"]
    probe = "; ".join(
        [f"cat {f} 2>/dev/null || echo denied {f.name}" for f in files]
        + [f"ls {d} 2>/dev/null || echo denied {d.name}" for d in folders]
        + ["tr '\\0' '\\n' 2>/dev/null < /proc/$PPID/environ || echo denied environ"]
    )
    second = make_run(runs / "b", [["sh", "-c", probe]])
    assert execute(second, env={**RUN_AS, "PODIUM_WORKER_TOKEN": "worker-token-value"})["status"] == "succeeded"
    log = (second / "log").read_text()
    assert log.splitlines() == [f"denied {p.name}" for p in [*files, *folders]] + ["denied environ"], log


def test_a_worker_not_started_as_root_refuses_run_as() -> None:
    """The worker's check, run in a child that gave up root: a clear error naming the way out."""
    from podium_worker.__main__ import check_run_as

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.setuid(pwd.getpwnam(USER).pw_uid)
            check_run_as(USER)
            os.write(write_end, b"accepted")
        except ValueError as exc:
            os.write(write_end, str(exc).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read().decode()
    os.waitpid(pid, 0)
    uid = pwd.getpwnam(USER).pw_uid
    assert message == (
        f"--run-as {USER} needs a worker started as root (this one runs as uid {uid}); "
        "without --run-as, jobs run as the worker's own user"
    )
    with pytest.raises(ValueError, match="no such user"):
        check_run_as("no-such-user-here")
    with pytest.raises(ValueError, match="that is root"):
        check_run_as("root")
