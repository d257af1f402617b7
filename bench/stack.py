"""The real Podium processes on free loopback ports, as `make run` starts them, for benchmarks.

Self-contained (the benchmarks do not import the tests): a fresh SQLite file or PostgreSQL
database, `podium_storage.admin` for the schema and the users, then `podium-master` (with the
benchmark project), `podium-api` and any number of `podium-worker`s, each its own process.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from podium_storage.admin import main as admin_main
from podium_storage.logs import LogStoreKind
from podium_storage.sealing import generate_key

logger = logging.getLogger(__name__)

REPOSITORY = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get("PODIUM_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
ADMIN_PASSWORD = "bench-admin"
PROJECT = "bench"
LOG_JOB_CODE = """\
import base64, hashlib, json, os, sys
left = int(sys.argv[1]); digest = hashlib.sha256(); out = sys.stdout.buffer
while left > 0:
    chunk = base64.b64encode(os.urandom(3 << 18))[:left]
    out.write(chunk); digest.update(chunk); left -= len(chunk)
out.flush()
json.dump(dict(sha256=digest.hexdigest()), open(os.environ["PODIUM_RESULTS"], "w"))
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    """Call `predicate` until it is truthy; TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    pause = 0.005
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(pause)  # bounds the polling rate; the deadline decides
        pause = min(pause * 2, 0.1)


def configuration() -> str:
    """The benchmark project: `echo` (one command), `other` (for filtered listings), `log`."""
    log_command = [sys.executable, "-c", LOG_JOB_CODE.replace("{", "{{").replace("}", "}}"), "{parameters.size}"]
    import json

    return (
        "projects:\n"
        f"  - id: {PROJECT}\n"
        "    jobs:\n"
        "      - id: echo\n"
        '        definition: {type: job, commands: [["echo", "hello"]]}\n'
        "      - id: other\n"
        '        definition: {type: job, commands: [["true"]]}\n'
        "      - id: log\n"
        '        parameters: [{key: size, default: "100000000"}]\n'
        f"        definition: {{type: job, commands: [{json.dumps(log_command)}]}}\n"
    )


def admin(database_url: str, *args: str) -> str:
    """Run `podium_storage.admin` in this process (in a thread of its own); what it printed."""
    out, err = io.StringIO(), io.StringIO()
    result: list[int] = []

    def call() -> None:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            result.append(admin_main(["--database-url", database_url, *args]))

    import threading

    thread = threading.Thread(target=call)
    thread.start()
    thread.join()
    if result != [0]:
        raise RuntimeError(f"admin {args} failed:\n{out.getvalue()}\n{err.getvalue()}")
    return out.getvalue().strip()


async def _pg_execute(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextlib.contextmanager
def database(kind: str, directory: Path) -> Iterator[str]:
    """A fresh database URL: a SQLite file in `directory`, or a new PostgreSQL database (dropped after)."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{directory / 'podium.db'}"
        return
    name = f"podium_bench_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_execute(POSTGRES_URL, f'CREATE DATABASE "{name}"'))
    parts = urlsplit(POSTGRES_URL)
    try:
        yield urlunsplit(("postgresql+asyncpg", parts.netloc, f"/{name}", parts.query, ""))
    finally:
        asyncio.run(_pg_execute(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def postgres_available() -> bool:
    """True when the PostgreSQL server of the benchmarks answers."""
    try:
        asyncio.run(_pg_execute(POSTGRES_URL, "SELECT 1"))
        return True
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False


class Process:
    """One service process; its output goes to `<directory>/<name>.out`."""

    def __init__(self, name: str, argv: list[str], directory: Path) -> None:
        self.name = name
        self.output_path = directory / f"{name}.out"
        with self.output_path.open("ab") as out:
            self.popen = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"}, cwd=REPOSITORY,
            )  # fmt: skip

    @property
    def pid(self) -> int:
        """The process id."""
        return self.popen.pid

    def alive(self) -> bool:
        """True while the process runs."""
        return self.popen.poll() is None

    def tail(self, lines: int = 40) -> str:
        """The last lines of the output."""
        try:
            return "\n".join(self.output_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after `timeout`."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def command(name: str) -> list[str]:
    """argv prefix of a workspace console script next to this Python."""
    script = Path(sys.executable).parent / name
    return [str(script)] if script.exists() else [sys.executable, "-m", name.replace("-", "_")]


class Stack:
    """master + api (+ workers) sharing one database and log directory, on loopback."""

    def __init__(
        self, directory: Path, database_url: str, log_store: LogStoreKind = "directory", masters: int = 1
    ) -> None:
        self.directory = directory
        self.database_url = database_url
        self.log_store = log_store
        self.log_dir = directory / "logs"
        self.secret = secrets.token_hex(16)
        self.master_ports = [free_port() for _ in range(masters)]
        self.master_port = self.master_ports[0]
        self.api_port = free_port()
        self.master_url = f"http://127.0.0.1:{self.master_port}"
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.worker_urls = [f"ws://127.0.0.1:{port}/ws/worker" for port in self.master_ports]
        self.worker_url = self.worker_urls[0]
        self.processes: dict[str, Process] = {}
        self.worker_user = "workers"
        self.worker_token = ""
        self.worker_token_file = directory / "worker-token"
        self.secrets_key_file = directory / "secrets.key"

    def start(self, workers: int = 0, executor_limit: int = 8) -> Stack:
        """Migrate, seed users, start master and api, then `workers` workers (waits for each)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "bench.yaml"
        config.write_text(configuration())
        admin(self.database_url, "migrate")
        admin(self.database_url, "create-user", "admin", "--role", "administrator", "--password", ADMIN_PASSWORD)
        admin(self.database_url, "create-user", self.worker_user, "--role", "worker")
        self.worker_token = admin(self.database_url, "create-token", self.worker_user).splitlines()[-1].strip()
        self.worker_token_file.write_text(self.worker_token + "\n")
        self.worker_token_file.chmod(0o600)
        self.secrets_key_file.write_text(generate_key() + "\n")
        self.secrets_key_file.chmod(0o600)
        common = ["--database-url", self.database_url, "--log-store", self.log_store, "--log-dir", str(self.log_dir),
                  "--control-secret", self.secret,
                  "--secrets-key-file", str(self.secrets_key_file)]  # fmt: skip
        # Several masters share the database and the log directory (docs/architecture.md, Several
        # masters); the first applies the configuration, and the api is given them all.
        for number, port in enumerate(self.master_ports):
            name = self.master_name(number)
            flags = ["--config", str(config)] if number == 0 else []
            if len(self.master_ports) > 1:
                flags += ["--master-id", name]
            self.spawn(name, [*command("podium-master"), "--host", "127.0.0.1", "--port", str(port), *common, *flags])
        for number, port in enumerate(self.master_ports):
            self.wait_http(self.master_name(number), f"http://127.0.0.1:{port}/health")
        masters = [flag for port in self.master_ports for flag in ("--master-url", f"http://127.0.0.1:{port}")]
        self.spawn("api", [*command("podium-api"), "--host", "127.0.0.1", "--port", str(self.api_port),
                           *common, *masters])  # fmt: skip
        self.wait_http("api", f"{self.api_url}/api/v1/health")
        for number in range(1, workers + 1):
            self.start_worker(f"w{number}", executor_limit)
        if workers:
            self.wait_workers(workers)
        return self

    def spawn(self, name: str, argv: list[str]) -> Process:
        """Start one process and remember it."""
        process = Process(name, argv, self.directory)
        self.processes[name] = process
        return process

    @staticmethod
    def master_name(number: int) -> str:
        """The process name (and `--master-id`) of the master of index `number`: master, master-2, ..."""
        return "master" if number == 0 else f"master-{number + 1}"

    def masters_from(self, number: int) -> list[str]:
        """`--master` flags naming every master, master `number` (modulo their count) first."""
        urls = self.worker_urls[number % len(self.worker_urls) :] + self.worker_urls[: number % len(self.worker_urls)]
        return [flag for url in urls for flag in ("--master", url)]

    def start_worker(self, worker_id: str, executor_limit: int, *extra: str) -> Process:
        """Start a real worker (with the flags `extra` too); worker wN names master N (round robin) first."""
        number = int(worker_id[1:]) - 1 if worker_id[1:].isdigit() else 0
        return self.spawn(f"worker-{worker_id}", [*command("podium-worker"), *self.masters_from(number),
                          "--id", worker_id, "--user", self.worker_user, "--token-file", str(self.worker_token_file),
                          "--executor-limit", str(executor_limit),
                          "--home", str(self.directory / f"worker-{worker_id}"), *extra])  # fmt: skip

    def check(self) -> None:
        """Raise RuntimeError when a service died."""
        for process in self.processes.values():
            if not process.alive():
                raise RuntimeError(f"{process.name} exited:\n{process.tail()}")

    def wait_http(self, name: str, url: str, timeout: float = 60.0) -> None:
        """Wait until `url` answers 200, failing fast when the process exits."""

        def ready() -> bool:
            self.check()
            try:
                return httpx.get(url, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout, f"{name} at {url}")

    def token(self) -> str:
        """A fresh login token of the administrator."""
        response = httpx.post(f"{self.api_url}/api/v1/me/login", json={"user": "admin", "password": ADMIN_PASSWORD})
        response.raise_for_status()
        token: str = response.json()["token"]
        return token

    def wait_workers(self, count: int, timeout: float = 120.0) -> None:
        """Wait until the api lists `count` active workers."""
        headers = {"Authorization": f"Bearer {self.token()}"}

        def active() -> bool:
            self.check()
            response = httpx.get(f"{self.api_url}/api/v1/workers", params={"limit": 500}, headers=headers, timeout=10)
            if response.status_code != 200:
                return False
            body = response.json()
            items = body["items"] if isinstance(body, dict) else body
            total = sum(1 for worker in items if worker.get("is_active"))
            cursor = body.get("next_cursor") if isinstance(body, dict) else None
            while cursor and total < count:
                page = httpx.get(f"{self.api_url}/api/v1/workers", params={"limit": 500, "cursor": cursor},
                                 headers=headers, timeout=10).json()  # fmt: skip
                total += sum(1 for worker in page["items"] if worker.get("is_active"))
                cursor = page.get("next_cursor")
            return total >= count

        wait_until(active, timeout, f"{count} active workers")

    def pids(self) -> dict[str, int]:
        """Process id of every service."""
        return {name: process.pid for name, process in self.processes.items()}

    def master_pids(self) -> dict[str, int]:
        """Process id of every master, by process name."""
        return {name: p.pid for name, p in self.processes.items() if name == "master" or name.startswith("master-")}

    def stop(self) -> None:
        """Stop workers, then api, then the masters."""
        for process in reversed(list(self.processes.values())):
            process.stop()
