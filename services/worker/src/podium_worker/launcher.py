"""The pre-forked executor launcher: ``python -m podium_worker.launcher`` (handle: `podium_worker.launch`).

A fresh ``python -m podium_worker.executor`` costs an interpreter start on every run's critical
path. The worker instead keeps one launcher process, which imported the executor once, and
asks it for each run over a ``SOCK_SEQPACKET`` socket on the launcher's stdin:

- request: the run directory's path (bytes), with three fds attached (``SCM_RIGHTS``): the
  write end of the run's notification pipe, ``RUN_DIR/executor.err`` opened for appending, and
  the hand-over (the run's secrets, a memory file at offset 0; see `podium_worker._runfiles`);
- reply: the forked executor's pid in ASCII digits, or ``error: ...`` when the fork failed.

The forked child is exactly the executor of ``python -m podium_worker.executor RUN_DIR``: its
own session, stdin the hand-over, stdout the notification pipe, stderr ``executor.err``, no other
fd. It survives the launcher and the worker. The launcher reaps its children on SIGCHLD and
exits when the worker's end of the socket closes. Stdlib only, like the executor.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import sys

from podium_worker import executor

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


def _child(run_dir: str, notify_fd: int, err_fd: int, input_fd: int) -> None:
    """In the forked child: become the executor of `run_dir`, then exit (never returns)."""
    code = 1
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.dup2(input_fd, 0)
        os.dup2(notify_fd, 1)
        os.dup2(err_fd, 2)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the socket, the wakeup pipe, the passed fds
        code = executor.main([run_dir])
    except BaseException as exc:  # the child must end here, whatever happened
        try:
            os.write(2, f"launcher child: {exc!r}\n".encode())
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
            data, fds, _, _ = socket.recv_fds(sock, MAX_PATH, 3)
            if not data:
                return
            try:
                if len(fds) != 3:
                    sock.send(b"error: a request carries a path and three fds")
                    continue
                try:
                    pid = os.fork()
                except OSError as exc:
                    sock.send(f"error: fork: {exc}".encode())
                    continue
                if pid == 0:
                    _child(os.fsdecode(data), fds[0], fds[1], fds[2])
                sock.send(str(pid).encode())
            finally:
                for passed in fds:
                    os.close(passed)
        _reap()


def main() -> None:
    """Entry point: ``python -m podium_worker.launcher``, its socket on stdin."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the worker's closed socket ends the launcher
    sock = socket.socket(fileno=os.dup(0))
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    try:
        serve(sock)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the worker is gone
    _reap()


if __name__ == "__main__":
    main()
