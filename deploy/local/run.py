"""Run the whole Podium stack on this machine: `make run` (see docs/operations.md).

Migrates the database, creates the user `admin` and a worker user, reuses the worker's token
kept in PODIUM_HOME (or makes one when the api no longer accepts it), then
starts podium-master (with the example configuration), podium-api, podium-web and one
podium-worker on loopback, waits until each answers its health endpoint, and prints the web
URL and the admin credentials. Each step is printed as it begins (a first start migrates a new
database, which takes a while). A port already in use is named and the launcher exits 1 before
starting anything; a service is ready only when the process answering is the one it started
(its health answer names its pid). SIGINT (Ctrl-C) or SIGTERM stops everything, workers first,
and exits 0. A service that exits once the stack runs stops the stack, with the end of its
output, except a master of several (PODIUM_MASTERS=2 or more, PostgreSQL only): the launcher
says which master exited and with what status, and starts it again after a back-off while the
others serve, so that failover can be watched on one machine. Standard library only: run it
with the workspace's Python (`uv run`).

No secret is ever an argument of a process (arguments are readable by every user of the host):
master and api read the control secret, the database URL and the secrets key from files in
PODIUM_HOME (mode 0600), the worker its token from `worker.token` there (`--token-file`), the
admin command the password from stdin. No service inherits the launcher's own secret variables.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger("podium.run")

REPOSITORY = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = REPOSITORY / "deploy" / "examples" / "podium.yaml"
WORKER_USER = "worker"
WORKER_ID = "local"
WORKER_TOKEN_FILE = "worker.token"
"""In PODIUM_HOME: the worker's token, reused at each start instead of minting one more."""
SECRETS_KEY_FILE = "secrets.key"
"""In PODIUM_HOME: the key sealing project secrets, made once and kept (a new one would lose them)."""
CONTROL_SECRET_FILE = "control.secret"
DATABASE_URL_FILE = "database.url"
SECRET_VARIABLES = (
    "PODIUM_ADMIN_PASSWORD",
    "PODIUM_DATABASE_URL",
    "PODIUM_CONTROL_SECRET",
    "PODIUM_SECRETS_KEY",
    "PODIUM_WORKER_TOKEN",
)
"""Variables of the launcher's environment that no service inherits: each gets what it needs, by file."""
JOBS_USER = "podium-jobs"
"""The unprivileged user a `make run` started as root runs jobs as (created when missing)."""
START_TIMEOUT = float(os.environ.get("PODIUM_START_TIMEOUT", "60"))
STOP_TIMEOUT = 15.0
MASTERS_LIMIT = 8
"""The most masters PODIUM_MASTERS may ask for (each is a process of its own on this machine)."""
RESTART_DELAY = 1.0
"""Seconds before a master of several that exited is started again; doubled for each exit within
RESTART_STABLE seconds of its restart (a master that cannot stay up), at most RESTART_DELAY_LIMIT."""
RESTART_DELAY_LIMIT = 30.0
RESTART_STABLE = 60.0
VARIABLES = """environment:
  PODIUM_HOME                   data directory (default ./.podium)
  PODIUM_WEB_PORT               port of the web UI and of the API under /api/v1 (default 8080)
  PODIUM_ADMIN_PASSWORD         password of the user admin (default: generated and printed)
  PODIUM_DATABASE_URL           database (default: SQLite file in PODIUM_HOME)
  PODIUM_WORKER_EXECUTOR_LIMIT  runs the worker executes at once (default: number of CPUs)
  PODIUM_WORKER_RUN_AS          started as root: the user jobs run as (default podium-jobs, created)
  PODIUM_WORKER_CONTAINERS      docker: run jobs with an image in containers of the Docker engine (default: off)
  PODIUM_MASTER_CONFIG          configuration file loaded by the master (default deploy/examples/podium.yaml)
  PODIUM_MASTERS                masters to start, 1 to 8 (default 1); 2 or more need PostgreSQL in
                                PODIUM_DATABASE_URL; a master that exits is started again after 1 s
                                (doubling while it keeps exiting within a minute, at most 30 s)
  PODIUM_MASTER_PORT, PODIUM_API_PORT  internal loopback ports (default: free ports; several masters
                                take PODIUM_MASTER_PORT and the ports after it)"""


class Stop(Exception):
    """A stop signal arrived, or a service died, while the stack was starting."""


class SettingsError(Exception):
    """A `PODIUM_*` variable of the launcher's environment has a value it cannot use."""


class PortTaken(Exception):
    """A port the stack needs is already in use."""


def check_ports(ports: dict[str, int]) -> None:
    """Raise PortTaken naming the first of `ports` (what → port) that something listens on."""
    for what, port in ports.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError as exc:
                raise PortTaken(
                    f"port {port} ({what}) is taken: {exc.strerror}. Is another `make run` running? "
                    f"Stop it, or choose another port (PODIUM_WEB_PORT=8081 make run)"
                ) from None


@dataclass
class Settings:
    """What `make run` honours, read from the environment."""

    home: Path
    web_port: int
    admin_password: str
    password_generated: bool
    database_url: str
    executor_limit: int
    config: Path
    master_ports: list[int]
    api_port: int
    containers: str | None = None
    control_secret: str = field(default_factory=lambda: secrets.token_hex(32))

    @classmethod
    def from_environment(cls) -> Settings:
        """Read the `PODIUM_*` variables, filling in the defaults."""
        env = os.environ
        home = Path(env.get("PODIUM_HOME") or ".podium").resolve()
        password = env.get("PODIUM_ADMIN_PASSWORD") or ""
        database_url = env.get("PODIUM_DATABASE_URL") or f"sqlite+aiosqlite:///{home / 'podium.db'}"
        masters = _count(env.get("PODIUM_MASTERS") or "1", "PODIUM_MASTERS", MASTERS_LIMIT)
        if masters > 1 and not database_url.startswith(("postgresql:", "postgresql+")):
            scheme = database_url.partition(":")[0]
            why = " (SQLite, the default of make run, is served by one master)" if scheme.startswith("sqlite") else ""
            raise SettingsError(
                f"PODIUM_MASTERS={masters} needs a PostgreSQL database, which the masters share; "
                f"PODIUM_DATABASE_URL is {scheme}{why}. Give a PostgreSQL URL: PODIUM_DATABASE_URL="
                f"postgresql+asyncpg://USER:PASSWORD@HOST:5432/DATABASE PODIUM_MASTERS={masters} make run"
            )
        first = env.get("PODIUM_MASTER_PORT")
        master_ports = (
            [int(first) + index for index in range(masters)] if first else [free_port() for _ in range(masters)]
        )
        return cls(
            home=home,
            web_port=int(env.get("PODIUM_WEB_PORT") or 8080),
            admin_password=password or secrets.token_urlsafe(12),
            password_generated=not password,
            database_url=database_url,
            executor_limit=int(env.get("PODIUM_WORKER_EXECUTOR_LIMIT") or os.cpu_count() or 1),
            config=Path(env.get("PODIUM_MASTER_CONFIG") or EXAMPLE_CONFIG).resolve(),
            master_ports=master_ports,
            api_port=int(env.get("PODIUM_API_PORT") or free_port()),
            containers=env.get("PODIUM_WORKER_CONTAINERS") or None,
        )

    def masters(self) -> dict[str, int]:
        """Each master's service name (its `--master-id` when there are several) and its port."""
        return dict(zip(master_names(len(self.master_ports)), self.master_ports, strict=True))


def master_names(count: int) -> list[str]:
    """The service names (and, when several, the `--master-id`s) of `count` masters."""
    return ["master"] if count == 1 else [f"master-{number}" for number in range(1, count + 1)]


def _count(value: str, name: str, limit: int) -> int:
    """`value` as a whole number from 1 to `limit`, or SettingsError naming the variable `name`."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= limit:
        raise SettingsError(f"{name}={value}: give a whole number from 1 to {limit}")
    return number


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_secret(path: Path, value: str) -> Path:
    """Write `value` to `path`, readable by this user only (mode 0600 from its creation)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(descriptor, "w") as file:
        file.write(value + "\n")
    return path


def service_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The launcher's environment without its secrets, plus `extra`."""
    env = {name: value for name, value in os.environ.items() if name not in SECRET_VARIABLES}
    return {**env, "PYTHONUNBUFFERED": "1", **(extra or {})}


def command(name: str) -> list[str]:
    """argv prefix of a workspace console script, next to this Python."""
    script = Path(sys.executable).parent / name
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", name.replace("-", "_")]


def jobs_user(worker_home: Path) -> str | None:
    """The user the worker runs jobs as: `--run-as` for a launcher started as root, else None.

    Jobs run as root could read every file of the stack (its secret files, the database) and
    the environment of every process: a root launcher runs them as PODIUM_WORKER_RUN_AS, or as
    `podium-jobs`, created as a system user when missing. When that user cannot reach the
    worker's home (a PODIUM_HOME under a private directory), jobs stay root and the launcher
    says so and why.
    """
    if os.geteuid() != 0:
        return None  # jobs run as this user: isolation is then up to the host (docs/security.md)
    import grp
    import pwd

    from podium_worker.runas import closed_on_the_way

    name = os.environ.get("PODIUM_WORKER_RUN_AS") or JOBS_USER
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        if name != JOBS_USER:
            raise Stop(f"PODIUM_WORKER_RUN_AS={name}: no such user") from None
        logger.info("creating the system user %s, whom jobs run as", name)
        created = subprocess.run(
            ["useradd", "--system", "--user-group", "--create-home", "--home-dir", f"/var/lib/{name}",
             "--shell", "/usr/sbin/nologin", name],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if created.returncode != 0:
            logger.warning("jobs run as root: cannot create the user %s: %s", name, created.stderr.strip())
            return None
        entry = pwd.getpwnam(name)
    groups = [entry.pw_gid, *(group.gr_gid for group in grp.getgrall() if name in group.gr_mem)]
    worker_home.mkdir(parents=True, exist_ok=True)
    closed = closed_on_the_way(worker_home, entry.pw_uid, groups)
    if closed is not None:
        logger.warning(
            "jobs run as root: the user %s cannot reach %s (mode %o); choose a PODIUM_HOME it can reach",
            name, closed, closed.stat().st_mode & 0o777,
        )  # fmt: skip
        return None
    logger.info("jobs run as the unprivileged user %s (the stack runs as root)", name)
    return name


class Wakeup:
    """One pipe that wakes the main loop on a signal (via set_wakeup_fd) or a child's exit."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.set_blocking(self.write_fd, False)
        self.signals: list[int] = []

    def install(self) -> None:
        """Catch SIGINT and SIGTERM: record them and wake the loop."""
        signal.set_wakeup_fd(self.write_fd, warn_on_full_buffer=False)
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, lambda signum, frame: self.signals.append(signum))

    def poke(self) -> None:
        """Wake the loop (from a watcher thread)."""
        try:
            os.write(self.write_fd, b"\0")
        except BlockingIOError:
            pass  # the pipe is full, so the loop is going to wake anyway

    def wait(self, timeout: float | None) -> None:
        """Block until woken or `timeout` seconds pass; drain the pipe."""
        ready, _, _ = select.select([self.read_fd], [], [], timeout)
        if ready:
            try:
                while os.read(self.read_fd, 4096):
                    pass
            except BlockingIOError:
                pass


class Process:
    """A service process in its own session (so Ctrl-C reaches only the launcher), output to a file."""

    def __init__(
        self, name: str, argv: Sequence[str], output_dir: Path, wakeup: Wakeup, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = service_environment(env)
        self.output_path = output_dir / f"{name}.log"
        self.wakeup = wakeup
        self.popen: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        """time.monotonic() of the last start."""

    def start(self) -> Process:
        """Start the process (again, once it exited) and a thread that wakes the launcher when it exits."""
        self.started_at = time.monotonic()
        with self.output_path.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=self.env,
            )
        threading.Thread(target=self._watch, name=f"watch-{self.name}", daemon=True).start()
        logger.info("started %s (pid %s), output in %s", self.name, self.popen.pid, self.output_path)
        return self

    def _watch(self) -> None:
        assert self.popen is not None
        self.popen.wait()
        self.wakeup.poke()

    def alive(self) -> bool:
        """True while the process runs."""
        return self.popen is not None and self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        """The last lines of the output, for error reports."""
        try:
            return "\n".join(self.output_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def exit_status(self) -> str:
        """How the process ended, to print: its exit status, and the signal that killed it if one did."""
        code = self.popen.returncode if self.popen is not None else None
        if code is None:
            return "running"
        if code < 0:
            try:
                return f"exit status {code}, killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"exit status {code}, killed by signal {-code}"
        return f"exit status {code}"

    def stop(self) -> bool:
        """SIGTERM, wait, SIGKILL after STOP_TIMEOUT; True when it ended by itself."""
        if self.popen is None or self.popen.poll() is not None:
            return True
        self.popen.terminate()
        try:
            code = self.popen.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop within %ss: killed", self.name, STOP_TIMEOUT)
            self.popen.kill()
            self.popen.wait()
            return False
        logger.info("stopped %s (exit status %s)", self.name, code)
        return True


def http_status(
    url: str, method: str = "GET", body: dict[str, str] | None = None, token: str | None = None
) -> tuple[int, bytes]:
    """Status and body of one HTTP request (with a bearer `token` if given); 0 when nothing answers."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
    try:
        with opener.open(request, timeout=5) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (OSError, ValueError):
        return 0, b""


@dataclass
class Master:
    """One master of the stack: its process, its address, its id and its restart back-off."""

    process: Process
    port: int
    master_id: str | None
    """`--master-id` (several masters), None for a single master (its default id)."""
    restart_argv: list[str]
    """The command of a restart: without `--config`, which the first start applied."""
    restarts: int = 0
    delay: float = RESTART_DELAY
    due: float | None = None
    """time.monotonic() at which it is started again, once it exited."""
    ready_by: float | None = None
    """Started again: the deadline of its health check."""

    @property
    def url(self) -> str:
        """The master's control API."""
        return f"http://127.0.0.1:{self.port}"


class Launcher:
    """Prepares the database, starts the services in order and stops them in reverse."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.wakeup = Wakeup()
        self.output_dir = settings.home / "output"
        self.processes: list[Process] = []
        self.masters: list[Master] = []
        self.api_url = f"http://127.0.0.1:{settings.api_port}"
        self.web_url = f"http://127.0.0.1:{settings.web_port}"

    def admin(self, *args: str, stdin: str = "") -> str:
        """Run `python -m podium_storage.admin` (database URL in its environment) and return what it printed."""
        argv = [sys.executable, "-m", "podium_storage.admin", *args]
        env = service_environment({"PODIUM_DATABASE_URL": self.settings.database_url})
        result = subprocess.run(argv, capture_output=True, text=True, input=stdin, env=env)
        if result.returncode != 0:
            raise RuntimeError(f"podium_storage.admin {args[0]} failed:\n{result.stdout}{result.stderr}")
        return result.stdout.strip()

    def prepare(self) -> None:
        """Migrate, create or update `admin` and the worker user, write the secret files of master and api."""
        home = self.settings.home
        home.mkdir(parents=True, exist_ok=True)
        self.output_dir.mkdir(exist_ok=True)
        logger.info("migrating the database %s (a new one takes a while)", _shown(self.settings.database_url))
        self.admin("migrate")
        password = self.settings.admin_password
        logger.info("creating or updating the users admin and %s", WORKER_USER)
        self.admin("create-user", "admin", "--role", "administrator", "--password-stdin", stdin=password + "\n")
        self.admin("create-user", WORKER_USER, "--role", "worker")
        write_secret(home / CONTROL_SECRET_FILE, self.settings.control_secret)
        write_secret(home / DATABASE_URL_FILE, self.settings.database_url)  # it may carry a password
        if not (home / SECRETS_KEY_FILE).exists():
            write_secret(home / SECRETS_KEY_FILE, self.admin("generate-secrets-key"))
            logger.info("new secrets key kept in %s (losing it loses the project secrets)", home / SECRETS_KEY_FILE)

    def secret_flags(self) -> list[str]:
        """The flags of master and api naming their secret files."""
        home = self.settings.home
        return [
            "--control-secret-file", str(home / CONTROL_SECRET_FILE),
            "--database-url-file", str(home / DATABASE_URL_FILE),
            "--secrets-key-file", str(home / SECRETS_KEY_FILE),
        ]  # fmt: skip

    def worker_token(self) -> str:
        """The token kept in PODIUM_HOME while the api accepts it; else a new one, kept there (mode 0600).

        The worker role may call nothing of the public API, so a kept token that is still valid
        answers 403 at /api/v1/me, and one that is unknown, revoked or expired 401.
        """
        path = self.settings.home / WORKER_TOKEN_FILE
        try:
            kept = path.read_text().strip()
        except FileNotFoundError:
            kept = ""
        if kept and http_status(f"{self.api_url}/api/v1/me", token=kept)[0] not in (0, 401):
            return kept
        token = self.admin("create-token", WORKER_USER, "--description", "make run worker").splitlines()[-1].strip()
        write_secret(path, token)
        logger.info("new worker token kept in %s", path)
        return token

    def spawn(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> Process:
        """Start one service (with `env` added to its environment) and remember it for the shutdown."""
        process = Process(name, argv, self.output_dir, self.wakeup, env).start()
        self.processes.append(process)
        return process

    def check_signals(self) -> None:
        """Raise Stop when a stop signal arrived."""
        if self.wakeup.signals:
            raise Stop(f"received {signal.Signals(self.wakeup.signals[0]).name}")

    def check(self) -> None:
        """Raise Stop when a signal arrived or a service exited."""
        self.check_signals()
        for process in self.processes:
            if not process.alive():
                raise Stop(self.exited(process))

    @staticmethod
    def exited(process: Process) -> str:
        """Why the stack stops: `process` exited; with the end of its output."""
        return f"{process.name} exited unexpectedly ({process.exit_status()}); its last output:\n{process.tail()}"

    def wait_for(self, what: str, ready: Callable[[], bool]) -> None:
        """Wait until `ready()` with a deadline, waking at once on a signal or a service exit."""
        deadline = time.monotonic() + START_TIMEOUT
        pause = 0.01
        while True:
            self.check()
            if ready():
                logger.info("%s is ready", what)
                return
            if time.monotonic() > deadline:
                outputs = "\n".join(f"== {p.name}\n{p.tail()}" for p in self.processes)
                raise Stop(f"{what} not ready within {START_TIMEOUT}s\n{outputs}")
            self.wakeup.wait(pause)  # bounded poll pause; a signal or an exit ends it at once
            pause = min(pause * 2, 0.2)

    def healthy(self, url: str, process: Process | None = None) -> Callable[[], bool]:
        """A readiness check: `url` answers 200 (and, given `process`, the answer names its pid).

        Without the pid, another stack on the same port would pass for this one.
        """

        def ready() -> bool:
            status, body = http_status(url)
            if status != 200 or process is None or process.popen is None:
                return status == 200
            try:
                return bool(json.loads(body).get("pid") == process.popen.pid)
            except (ValueError, AttributeError):
                return False

        return ready

    def master_ready(self, master: Master) -> Callable[[], bool]:
        """A readiness check of `master`: its /health answers 200, naming its id when it has one of ours."""

        def ready() -> bool:
            status, body = http_status(f"{master.url}/health")
            if status != 200 or master.master_id is None:
                return status == 200
            try:
                return bool(json.loads(body).get("master") == master.master_id)
            except (ValueError, AttributeError):
                return False

        return ready

    def start_masters(self, log_dir: str) -> None:
        """Start the masters one after the other, each once the one before is healthy.

        Only the first applies `--config` (masters applying one file at once would race on its
        rows); several masters each get the id `master-N` and start again under it.
        """
        s = self.settings
        several = len(s.master_ports) > 1
        for number, (name, port) in enumerate(s.masters().items(), start=1):
            argv = [*command("podium-master"), "--host", "127.0.0.1", "--port", str(port), *self.secret_flags(),
                    "--log-dir", log_dir, "--api-url", self.web_url,
                    *(["--master-id", name] if several else [])]  # fmt: skip
            first = [*argv, "--config", str(s.config)] if number == 1 else argv
            master = Master(self.spawn(name, first), port, name if several else None, argv)
            self.masters.append(master)
            self.wait_for(name, self.master_ready(master))

    def start(self) -> None:
        """Start the masters, api, web and the worker, each once the one before is healthy."""
        s = self.settings
        check_ports({"web, PODIUM_WEB_PORT": s.web_port, **s.masters(), "api": s.api_port})
        self.prepare()
        log_dir = str(s.home / "logs")
        self.start_masters(log_dir)
        master_urls = [flag for master in self.masters for flag in ("--master-url", master.url)]
        self.spawn("api", [*command("podium-api"), "--host", "127.0.0.1", "--port", str(s.api_port),
                           *self.secret_flags(), "--log-dir", log_dir, *master_urls])  # fmt: skip
        self.wait_for("api", self.healthy(f"{self.api_url}/api/v1/health"))
        self.worker_token()  # valid and kept in PODIUM_HOME/worker.token, which the worker reads
        web = self.spawn("web", [*command("podium-web"), "--host", "127.0.0.1", "--port", str(s.web_port),
                                 "--api-url", self.api_url])  # fmt: skip
        self.wait_for("web", self.healthy(f"{self.web_url}/health", web))
        self.wait_for("api through the web", self.healthy(f"{self.web_url}/api/v1/health"))
        user = jobs_user(s.home / "worker")
        worker_masters = [flag for m in self.masters for flag in ("--master", f"ws://127.0.0.1:{m.port}/ws/worker")]
        self.spawn("worker", [*command("podium-worker"), *worker_masters,
                              "--id", WORKER_ID, "--user", WORKER_USER, "--executor-limit", str(s.executor_limit),
                              "--home", str(s.home / "worker"),
                              "--token-file", str(s.home / WORKER_TOKEN_FILE),
                              *(["--run-as", user] if user else []),
                              *(["--containers", s.containers] if s.containers else [])])  # fmt: skip
        self.wait_for_worker()

    def wait_for_worker(self) -> None:
        """Wait until the api shows the worker connected, when the api has that route."""
        status, body = http_status(f"{self.api_url}/api/v1/openapi.json")
        if status != 200 or b"/api/v1/workers/{" not in body:
            self.check()
            logger.info("worker started (this api cannot show whether it is connected)")
            return
        status, body = http_status(
            f"{self.api_url}/api/v1/me/login", "POST", {"user": "admin", "password": self.settings.admin_password}
        )
        token = json.loads(body)["token"] if status == 200 else ""

        def connected() -> bool:
            request = urllib.request.Request(
                f"{self.api_url}/api/v1/workers/{WORKER_ID}", headers={"Authorization": f"Bearer {token}"}
            )
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            try:
                with opener.open(request, timeout=5) as response:
                    return bool(json.loads(response.read()).get("is_active"))
            except (OSError, ValueError):
                return False

        self.wait_for("worker", connected)

    def banner(self) -> str:
        """What a person needs to use the running stack."""
        s = self.settings
        origin = "generated" if s.password_generated else "from PODIUM_ADMIN_PASSWORD"
        masters = ""
        if len(self.masters) > 1:
            listed = ", ".join(f"{m.master_id} {m.url}" for m in self.masters)
            masters = f"  Masters:   {listed}  (one that exits is started again)\n"
        return (
            f"\nPodium is running.\n"
            f"  Web UI:    {self.web_url}/\n"
            f"{masters}"
            f"  API:       {self.web_url}/api/v1  (docs: {self.web_url}/api/v1/docs)\n"
            f"  User:      admin\n"
            f"  Password:  {s.admin_password}  ({origin})\n"
            f"  Data:      {s.home}  (service output in {self.output_dir})\n"
            f"Press Ctrl-C to stop.\n"
        )

    def serve(self) -> None:
        """Block until a stop signal or a service's exit; a master of several that exits starts again."""
        while True:
            self.check_signals()
            now = time.monotonic()
            for process in self.processes:
                if process.alive():
                    continue
                master = self.restartable(process)
                if master is None:
                    raise Stop(self.exited(process))
                if master.due is None:
                    self.master_exited(master, now)
            waits: list[float] = []
            for master in self.masters:
                if master.due is not None and master.due <= now:
                    self.restart(master, now)
                if master.due is not None:
                    waits.append(master.due - now)
                if master.ready_by is not None and self.watch_restarted(master, now):
                    waits.append(0.2)  # bounded poll pause of its health; an exit or a signal ends it at once
            self.wakeup.wait(min(waits, default=None))

    def restartable(self, process: Process) -> Master | None:
        """The master `process` runs when the stack has several (a single one's exit stops the stack)."""
        if len(self.masters) < 2:
            return None
        return next((master for master in self.masters if master.process is process), None)

    def master_exited(self, master: Master, now: float) -> None:
        """Say that `master` exited and when it starts again: after RESTART_DELAY, doubling while it cannot stay up."""
        lived = now - master.process.started_at
        quick = master.restarts > 0 and lived < RESTART_STABLE
        master.delay = min(master.delay * 2, RESTART_DELAY_LIMIT) if quick else RESTART_DELAY
        master.due = now + master.delay
        master.ready_by = None
        others = ", ".join(m.process.name for m in self.masters if m is not master and m.process.alive()) or "none"
        logger.warning(
            "%s exited (%s) after %.1f s; the stack stays up (masters serving: %s); starting it again in %g s "
            "(its output: %s)",
            master.process.name, master.process.exit_status(), lived, others, master.delay, master.process.output_path,
        )  # fmt: skip

    def restart(self, master: Master, now: float) -> None:
        """Start `master` again on its port, under its id, and watch its health until START_TIMEOUT."""
        master.due = None
        master.restarts += 1
        master.process.argv = master.restart_argv
        logger.info("starting %s again (restart %d)", master.process.name, master.restarts)
        master.process.start()
        master.ready_by = now + START_TIMEOUT

    def watch_restarted(self, master: Master, now: float) -> bool:
        """Say when a restarted `master` is ready (or is not by its deadline); True while still waiting."""
        assert master.ready_by is not None
        if self.master_ready(master)():
            logger.info("%s is ready again at %s", master.process.name, master.url)
        elif now > master.ready_by:
            logger.warning("%s not ready within %ss of its restart (its output: %s)",
                           master.process.name, START_TIMEOUT, master.process.output_path)  # fmt: skip
        else:
            return True
        master.ready_by = None
        return False

    def stop(self) -> bool:
        """Stop every service, workers first; True when each ended by itself."""
        clean = True
        for process in reversed(self.processes):
            clean = process.stop() and clean
        return clean

    def run(self) -> int:
        """Start, serve until stopped, stop; the exit status."""
        self.wakeup.install()
        requested = False
        try:
            self.start()
            sys.stdout.write(self.banner())
            sys.stdout.flush()
            self.serve()
        except Stop as stop:
            requested = bool(self.wakeup.signals)
            logger.log(logging.INFO if requested else logging.ERROR, "stopping: %s", stop)
        except PortTaken as taken:
            logger.error("cannot start Podium: %s", taken)
        except Exception:
            logger.exception("could not start Podium")
        clean = self.stop()
        return 0 if requested and clean else 1


def _shown(url: str) -> str:
    """A database URL without its password, to print."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{scheme}{sep}{credentials.split(':', 1)[0]}:***@{host}"


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `--help`, read the settings and run the stack."""
    parser = argparse.ArgumentParser(
        prog="make run",
        description="Start master, api, web and one worker on this machine with the example project.",
        epilog=VARIABLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s podium: %(message)s", stream=sys.stdout)
    try:
        settings = Settings.from_environment()
    except SettingsError as error:
        logger.error("cannot start Podium: %s", error)
        return 1
    return Launcher(settings).run()


if __name__ == "__main__":
    sys.exit(main())
