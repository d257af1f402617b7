"""Helpers for tests that start real processes: free ports, condition waits, services, stacks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import httpx

T = TypeVar("T")

CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_URL = os.environ.get("PODIUM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(predicate: Callable[[], T | None], timeout: float = 20.0, what: str = "condition") -> T:
    """Call `predicate` until it returns a truthy value, and return that value.

    Waits on a condition with a deadline (no fixed sleep decides the outcome): the short
    pause between tries only bounds the CPU spent polling.

    Raises:
        TimeoutError: the deadline passed first.
    """
    deadline = time.monotonic() + timeout
    pause = 0.002
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


class Service:
    """A real process started by a test, with its output kept in a file for failure reports."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        output_dir: Path | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = {**os.environ, **(env or {})}
        self.output_path = (output_dir or Path.cwd()) / f"{name}.out"
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        """Start the process (its output appends to `<name>.out`)."""
        self.output_path.parent.mkdir(parents=True, exist_ok=True)
        out = self.output_path.open("ab")
        self.process = subprocess.Popen(
            self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.cwd
        )
        out.close()
        return self

    @property
    def output(self) -> str:
        """Everything the process printed so far."""
        try:
            return self.output_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process is not None and self.process.poll() is None

    def wait_http(self, url: str, timeout: float = 60.0) -> None:
        """Wait until `url` answers any HTTP status below 500, or fail with the process output."""

        def answers() -> bool:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited early:\n{self.output}")
            try:
                return httpx.get(url, timeout=1.0).status_code < 500
            except httpx.HTTPError:
                return False

        try:
            wait_until(answers, timeout, f"{self.name} at {url}")
        except TimeoutError:
            raise TimeoutError(f"{self.name} did not answer at {url}:\n{self.output}") from None

    def peak_rss(self) -> int:
        """The most memory the process has held resident so far, in bytes (VmHWM of /proc)."""
        assert self.process is not None
        return peak_rss(self.process.pid)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; return the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL the process (a crash, as the reliability tests need)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def peak_rss(pid: int) -> int:
    """The peak resident set of process `pid` in bytes: the kernel's high-water mark (VmHWM).

    A high-water mark needs no sampling: a spike between two looks is still counted.
    """
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM in /proc/{pid}/status")


def python_module(module: str, *args: str) -> list[str]:
    """argv running `python -m module args` in this interpreter."""
    return [sys.executable, "-m", module, *args]
