"""Commands run as another user: the worker's ``--run-as USER`` (``PODIUM_WORKER_RUN_AS``).

A worker started as root exports the user's name under `RUN_AS` to its executors. The executor
stays root (it writes the run's log and state, which the job must not touch) and starts each
command in a child that joins the user's groups, takes its gid then its uid, and only then
executes the command: the job cannot get root back, read the worker's files (its home and run
directories are not listable, their files are root's and mode 0600) or read its parents' memory
or environment. The workspace and the ``PODIUM_RESULTS`` file are the user's while the run lasts.

Stdlib only: the executor imports this module on every run's critical path.
"""

from __future__ import annotations

import os
import signal

TYPE_CHECKING = False  # typing costs milliseconds on every run's start
if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

RUN_AS = "PODIUM_WORKER_RUN_AS"
"""The variable naming the user commands run as (empty or absent: the worker's own user)."""


class User:
    """The account commands run as."""

    __slots__ = ("name", "uid", "gid", "groups", "home")

    def __init__(self, name: str, uid: int, gid: int, groups: list[int], home: str) -> None:
        self.name = name
        self.uid = uid
        self.gid = gid
        self.groups = groups
        self.home = home


def lookup(name: str) -> User:
    """The account `name` (a name or a numeric uid).

    Raises:
        ValueError: no such user, or root (running jobs as root isolates nothing).
    """
    import pwd

    try:
        entry = pwd.getpwuid(int(name)) if name.isdecimal() else pwd.getpwnam(name)
    except (KeyError, OverflowError):
        raise ValueError(f"--run-as {name}: no such user") from None
    if entry.pw_uid == 0:
        raise ValueError(f"--run-as {name}: that is root; name an unprivileged user")
    return User(entry.pw_name, entry.pw_uid, entry.pw_gid, os.getgrouplist(entry.pw_name, entry.pw_gid), entry.pw_dir)


def closed_on_the_way(directory: Path, uid: int, groups: Sequence[int]) -> Path | None:
    """The first directory from the root down to `directory` that `uid` (in `groups`) cannot pass
    (no search permission for it), or None when the whole way is open."""
    resolved = directory.resolve()
    for step in [*reversed(resolved.parents), resolved]:
        info = step.stat()
        bit = 0o100 if info.st_uid == uid else 0o010 if info.st_gid in groups else 0o001
        if not info.st_mode & bit:
            return step
    return None


def spawn(path: str, argv: list[str], env: dict[str, str], out: int, user: User) -> int:
    """Start `argv` as `user` in a session of its own, stdin /dev/null, stdout and stderr `out`.

    The same start as the executor's ``posix_spawn`` (which cannot change users), by fork and
    exec; an exec failure comes back through a close-on-exec pipe as the OSError it was.

    Raises:
        OSError: the fork failed, or the child could not become `user` or execute `path`.
    """
    errors_read, errors_write = os.pipe()  # close-on-exec: it closes unread when exec succeeds
    pid = os.fork()
    if pid == 0:  # the child: nothing but system calls until exec
        try:
            signal.set_wakeup_fd(-1)  # the executor's wakeup pipe is not the child's business
            os.setsid()
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(out, 1)
            os.dup2(out, 2)
            for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGHUP):
                signal.signal(sig, signal.SIG_DFL)
            os.setgroups(user.groups)
            os.setgid(user.gid)
            os.setuid(user.uid)
            os.execve(path, argv, env)
        except BaseException as exc:
            number = exc.errno if isinstance(exc, OSError) and exc.errno else 0
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            try:
                os.write(errors_write, f"{number}:{detail}".encode())
            finally:
                os._exit(127)
    os.close(errors_write)
    report = b""
    try:
        while chunk := os.read(errors_read, 4096):
            report += chunk
    finally:
        os.close(errors_read)
    if report:
        os.waitpid(pid, 0)
        code, _, reason = report.decode(errors="replace").partition(":")
        raise OSError(int(code) if code.isdecimal() else 0, reason)
    return pid
