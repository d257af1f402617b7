"""The worker's handle on its executor launcher (`podium_worker.launcher`), which it starts.

The launcher is a separate, light process (stdlib and the executor only: forking it costs
less the fewer pages it maps), asked for each run over a ``SOCK_SEQPACKET`` socket; see
`podium_worker.launcher` for the exchange.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys

logger = logging.getLogger(__name__)

LAUNCH_TIMEOUT = 10.0
"""Seconds the worker waits for the launcher's reply (it may still be importing right after a start)."""


class LaunchError(OSError):
    """The launcher did not start the executor; `sent` says whether it may have (the request went out)."""

    def __init__(self, message: str, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


class Launcher:
    """The worker's handle on its launcher process, started on first use and restarted when dead."""

    def __init__(self, timeout: float = LAUNCH_TIMEOUT) -> None:
        self.timeout = timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None

    def start(self) -> None:
        """Start a launcher process (it becomes ready once its imports are done)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "podium_worker.launcher"],
                stdin=theirs.fileno(),
                stdout=subprocess.DEVNULL,
                start_new_session=True,  # terminal signals are the worker's business, not its
                close_fds=True,
            )
        ours.settimeout(self.timeout)
        self._sock = ours

    def close(self) -> None:
        """Stop the launcher: it exits on the closed socket; its executors keep running."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self.process is not None:
            try:
                self.process.wait(self.timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def restart(self) -> None:
        """Kill what is left of the current launcher and start a new one.

        Raises:
            OSError: the new launcher cannot be started.
        """
        self._stop()
        self.start()

    def _stop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            self.process = None

    def _replace(self) -> None:
        """Restart after a failure; a launcher that cannot start is retried on the next launch."""
        try:
            self.restart()
        except OSError as exc:
            logger.error("cannot restart the executor launcher: %s", exc)
            self._stop()

    def launch(self, run_dir: str, notify_fd: int, input_fd: int) -> int:
        """Start the executor of `run_dir` with `input_fd` (the hand-over) as stdin; return its pid.

        Raises:
            LaunchError: the launcher is dead, broke, or could not fork; it is restarted for the
                next run when dead. With ``sent`` false no executor was started.
        """
        if self.process is not None and self.process.poll() is not None:
            self._replace()
            raise LaunchError("the launcher had died; it was restarted", sent=False)
        if self._sock is None:
            try:
                self.start()
            except OSError as exc:
                self._stop()
                raise LaunchError(f"cannot start the launcher: {exc}", sent=False) from exc
        assert self._sock is not None
        try:
            socket.send_fds(self._sock, [os.fsencode(run_dir)], [notify_fd, input_fd])
        except OSError as exc:
            self._replace()
            raise LaunchError(f"cannot reach the launcher: {exc}", sent=False) from exc
        try:
            reply = self._sock.recv(256)
        except OSError as exc:
            self._replace()
            raise LaunchError(f"no reply from the launcher: {exc}", sent=True) from exc
        if not reply:
            self._replace()
            raise LaunchError("the launcher died during the launch", sent=True)
        if not reply.isdigit():
            raise LaunchError(f"the launcher failed: {reply.decode(errors='replace')}", sent=False)
        return int(reply)
