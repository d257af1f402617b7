"""Celery's venv, task module, worker process and client driver."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path
from typing import Any

from bench.peers.venv import ensure_venv
from bench.stack import Process

VERSION = "5.7.*"
REDIS = "redis://127.0.0.1:6379/0"
CONCURRENCY = 16

TASKS = """\
import subprocess

from celery import Celery

app = Celery("bench", broker="{redis}", backend="{redis}")
app.conf.task_default_queue = "{queue}"
app.conf.worker_prefetch_multiplier = 1
app.conf.result_expires = 600


@app.task
def echo():
    return subprocess.run(["echo", "hello"], capture_output=True, check=True).stdout.decode()
"""

# Runs in the Celery venv with the task module's directory on sys.path; prints one JSON object.
DRIVER = """\
import json, sys, time

from tasks import echo

mode, count = sys.argv[1], int(sys.argv[2])
echo.delay().get(timeout=120)  # warm-up: the worker consumes
if mode == "latency":
    durations = []
    for _ in range(count):
        start = time.time()
        echo.delay().get(timeout=120)
        durations.append(time.time() - start)
    print(json.dumps({{"durations": durations}}))
else:
    start = time.time()
    results = [echo.delay() for _ in range(count)]
    sent = time.time() - start
    outputs = [result.get(timeout=3600) for result in results]
    print(json.dumps({{"sent_s": sent, "elapsed_s": time.time() - start, "ok": outputs.count("hello\\n")}}))
"""


class CeleryStack:
    """One Celery worker (16 prefork processes) on the machine's Redis, with a queue of its own."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.bin = ensure_venv("celery", [f"celery[redis]=={VERSION}"])
        # a queue name of this run only: the machine's Redis may hold other users' queues
        self.queue = f"podium-bench-{secrets.token_hex(4)}"
        self.process: Process | None = None

    def version(self) -> str:
        """The installed Celery version."""
        out = subprocess.run([str(self.bin / "celery"), "--version"], capture_output=True, text=True, check=True)
        return "Celery " + out.stdout.strip().split()[0]

    def start(self) -> CeleryStack:
        """Check Redis answers, write the task module, start the worker."""
        ping = subprocess.run(["redis-cli", "-u", REDIS, "ping"], capture_output=True, text=True)
        if ping.stdout.strip() != "PONG":
            raise RuntimeError(f"Redis at {REDIS} does not answer (start it: redis-server --daemonize yes)")
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "tasks.py").write_text(TASKS.format(redis=REDIS, queue=self.queue))
        (self.directory / "driver.py").write_text(DRIVER.format())
        argv = [str(self.bin / "celery"), "--workdir", str(self.directory), "-A", "tasks", "worker",
                "--pool", "prefork", "--concurrency", str(CONCURRENCY), "--loglevel", "WARNING", "--without-gossip",
                "--without-mingle", "--without-heartbeat", "-Q", self.queue, "-n", f"{self.queue}@%h"]  # fmt: skip
        self.process = Process("celery-worker", argv, self.directory)
        return self

    def drive(self, mode: str, count: int) -> dict[str, Any]:
        """Run the client driver in the venv (`latency` or `throughput`); its JSON."""
        assert self.process is not None, "start() first"
        result = subprocess.run([str(self.bin / "python"), "driver.py", mode, str(count)], cwd=self.directory,
                                capture_output=True, text=True, timeout=3600)  # fmt: skip
        if result.returncode != 0 or not self.process.alive():
            raise RuntimeError(f"the Celery driver failed:\n{result.stderr[-3000:]}\n{self.process.tail()}")
        measured: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
        return measured

    def pid(self) -> int:
        """The worker's main process id."""
        assert self.process is not None, "start() first"
        return self.process.pid

    def stop(self) -> None:
        """Stop the worker (its prefork children go with it)."""
        if self.process is not None:
            self.process.stop()
