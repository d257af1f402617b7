"""The pre-forked executor launcher: ``python -m podium_worker.launcher`` (handle: `podium_worker.launch`).

A fresh ``python -m podium_worker.executor`` costs an interpreter start on every run's critical
path. The worker instead keeps one launcher process, which imported the executor once, and
asks it for each run over a ``SOCK_SEQPACKET`` socket on the launcher's stdin:

- request: the run directory's path (bytes), with two fds attached (``SCM_RIGHTS``): the
  write end of the run's notification pipe and the hand-over (the run's secrets, a memory file
  at offset 0; see `podium_worker._runfiles`);
- reply: the forked executor's pid in ASCII digits, or ``error: ...`` when the fork failed.

The forked child is the executor of ``python -m podium_worker.executor RUN_DIR``: its own
session, stdin the hand-over, stdout the notification pipe, no other fd. One difference: its
stderr is ``RUN_DIR/executor.err`` created on the first write (`LazyStderr`), fd 2 being
``/dev/null`` until then. Most runs write none, and a file not created is an inode neither
allocated nor freed on every run (the direct start's ``executor.err`` is opened by the worker,
since an interpreter that fails to start writes to its fd 2). It survives the launcher and the
worker. The launcher reaps its children on SIGCHLD and exits when the worker's end of the socket
closes. Stdlib only, like the executor.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import sys

from podium_worker import _runfiles, executor

TYPE_CHECKING = False  # typing costs an import in the launcher, whose pages every fork copies
if TYPE_CHECKING:
    from typing import Any

# Nothing else is imported here (no logging, no subprocess): every page the launcher maps is
# copied into each fork's page tables and torn down at each executor's exit, and the heavier
# launcher cost twice as much per run (0.9 against 0.4 ms of CPU for a bare fork and exit).

MAX_PATH = 4096


def _reap() -> None:
    """Collect every child that ended (none may stay a zombie)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


class LazyStderr:
    """``sys.stderr`` of a forked executor: ``RUN_DIR/executor.err``, opened (and put on fd 2, for
    what C code writes there) on the first write only. Until then fd 2 is ``/dev/null``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._file: Any = None

    def write(self, text: str) -> int:
        """Append `text` to ``executor.err``, creating it if needed."""
        if self._file is None:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            if fd != 2:
                os.dup2(fd, 2)
                os.close(fd)
            self._file = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)
        written: int = self._file.write(text)
        return written

    def flush(self) -> None:
        """Flush what was written (nothing to do before the first write)."""
        if self._file is not None:
            self._file.flush()


def _child(run_dir: str, notify_fd: int, input_fd: int) -> None:
    """In the forked child: become the executor of `run_dir`, then exit (never returns)."""
    code = 1
    err = LazyStderr(os.path.join(os.path.abspath(run_dir), _runfiles.ERR))
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        # Not the launcher's stderr (the worker's) on fd 2: the executor outlives both. The
        # launcher's fd 0 is /dev/null, opened for reading and writing (`main`): no open per run.
        os.dup2(0, 2)
        os.dup2(input_fd, 0)
        os.dup2(notify_fd, 1)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the socket, the wakeup pipe, the passed fds
        sys.stderr = err
        code = executor.main([run_dir])
    except BaseException as exc:  # the child must end here, whatever happened
        try:
            err.write(f"launcher child: {exc!r}\n")
        except OSError:
            pass
    finally:
        try:
            sys.stderr.flush()
        finally:
            os._exit(code)


def serve(sock: socket.socket) -> None:
    """Fork one executor per request until the worker's end of `sock` closes."""
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # the wakeup fd carries the news
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    poller.register(wake_read, select.POLLIN)
    while True:
        for fd, _ in poller.poll():
            if fd == wake_read:
                while True:
                    try:
                        if not os.read(wake_read, 512):
                            break
                    except BlockingIOError:
                        break
                continue
            data, fds, _, _ = socket.recv_fds(sock, MAX_PATH, 2)
            if not data:
                return
            try:
                if len(fds) != 2:
                    sock.send(b"error: a request carries a path and two fds")
                    continue
                try:
                    pid = os.fork()
                except OSError as exc:
                    sock.send(f"error: fork: {exc}".encode())
                    continue
                if pid == 0:
                    _child(os.fsdecode(data), fds[0], fds[1])
                sock.send(str(pid).encode())
            finally:
                for passed in fds:
                    os.close(passed)
        _reap()


def main() -> None:
    """Entry point: ``python -m podium_worker.launcher``, its socket on stdin."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the worker's closed socket ends the launcher
    sock = socket.socket(fileno=os.dup(0))
    null = os.open(os.devnull, os.O_RDWR)  # each child's fd 2 until its first diagnostic (`_child`)
    os.dup2(null, 0)
    os.close(null)
    try:
        serve(sock)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the worker is gone
    _reap()


if __name__ == "__main__":
    main()
