"""`podium-worker`: connect to the master and execute runs.

Every flag has a `PODIUM_WORKER_*` variable (architecture page); flags win over variables.

The worker keeps no secret where its jobs could find one (docs/jobs.md): a token on its command
line or a secret-looking ``PODIUM_*`` variable in its environment makes it start itself again
at once without them (`restart_without_secrets`), the token handed over in a memory file.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError

from podium_model.logformat import configure as configure_logging
from podium_worker.environment import PASS_ENV, pass_list
from podium_worker.runas import RUN_AS, User, closed_on_the_way, lookup
from podium_worker.security import check_master_url
from podium_worker.settings import DEFAULT_MASTER, WorkerSettings

logger = logging.getLogger(__name__)

TOKEN = "PODIUM_WORKER_TOKEN"
TOKEN_FILE = "PODIUM_WORKER_TOKEN_FILE"


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name) or default


def _env_flag(name: str) -> bool:
    """A boolean variable: 1, true, yes or on (any case) set it; anything else leaves it off."""
    return (_env(name, "") or "").strip().lower() in {"1", "true", "yes", "on"}


def _env_port(name: str) -> int | None:
    value = _env(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a port number") from None


def _property(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"property {text!r} is not key=value")
    return key, value


def build_parser() -> argparse.ArgumentParser:
    """The command line of `podium-worker`."""
    parser = argparse.ArgumentParser(
        prog="podium-worker",
        description="Podium worker: executes runs for the master.",
        allow_abbrev=False,  # `--tok X` must not be a token that `restart_without_secrets` misses
    )
    add = parser.add_argument
    add("--master", action="append", default=[], metavar="URL",
        help=f"the master's websocket URL (default {DEFAULT_MASTER}); repeatable: the masters are tried in turn, "
             "the next one when a connection fails or ends [PODIUM_WORKER_MASTER: URL,URL]")  # fmt: skip
    add("--id", default=_env("PODIUM_WORKER_ID"), help="this worker's id [PODIUM_WORKER_ID]")
    add("--user", default=_env("PODIUM_WORKER_USER"), help="user of the token (default: the id) [PODIUM_WORKER_USER]")
    add("--token", help="the user's token; deprecated: every process sees command lines [PODIUM_WORKER_TOKEN]")
    add("--token-file", help="a file holding the user's token (mode 0600) [PODIUM_WORKER_TOKEN_FILE]")
    add("--run-as", default=_env(RUN_AS),
        help="run every command as this unprivileged user; the worker must be root [PODIUM_WORKER_RUN_AS]")  # fmt: skip
    add("--executor-limit", type=int, default=int(_env("PODIUM_WORKER_EXECUTOR_LIMIT", str(os.cpu_count() or 1)) or 1),
        help="runs at once at most (default: CPUs) [PODIUM_WORKER_EXECUTOR_LIMIT]")  # fmt: skip
    add("--property", action="append", type=_property, default=[], metavar="KEY=VALUE",
        help="a property matched against job properties (repeatable) [PODIUM_WORKER_PROPERTIES: k=v,k=v]")  # fmt: skip
    add("--home", default=_env("PODIUM_WORKER_HOME", "./.podium/worker"), help="run directories [PODIUM_WORKER_HOME]")
    add("--heartbeat-interval", type=float, default=float(_env("PODIUM_WORKER_HEARTBEAT_INTERVAL", "10") or 10),
        help="seconds between heartbeats [PODIUM_WORKER_HEARTBEAT_INTERVAL]")  # fmt: skip
    add("--chunk-size", type=int, default=int(_env("PODIUM_WORKER_CHUNK_SIZE", str(1 << 20)) or 1 << 20),
        help="largest piece of a log or an artifact sent in one frame, in bytes (at most 4 MiB, the "
             "master's frame limit) [PODIUM_WORKER_CHUNK_SIZE]")  # fmt: skip
    add("--log-level", default=_env("PODIUM_LOG_LEVEL", "INFO"), help="logging level [PODIUM_LOG_LEVEL]")
    add("--log-format", choices=["text", "json"], default=_env("PODIUM_LOG_FORMAT", "text"),
        help="service log format [PODIUM_LOG_FORMAT]")  # fmt: skip
    add("--ca-file", default=_env("PODIUM_WORKER_CA_FILE"),
        help="PEM CA bundle verifying the master (default: system store) [PODIUM_WORKER_CA_FILE]")  # fmt: skip
    add("--allow-insecure", action="store_true", default=_env_flag("PODIUM_WORKER_ALLOW_INSECURE"),
        help="allow plain ws:// to a host other than loopback [PODIUM_WORKER_ALLOW_INSECURE]")  # fmt: skip
    add("--drain", action="store_true", default=_env_flag("PODIUM_WORKER_DRAIN"),
        help="on SIGTERM/SIGINT take no new run and stop once the running runs reached the master; "
             "a second signal stops at once [PODIUM_WORKER_DRAIN]")  # fmt: skip
    add("--health-port", type=int, default=None,
        help="serve GET /health on this port (default: off) [PODIUM_WORKER_HEALTH_PORT]")  # fmt: skip
    add("--health-host", default=_env("PODIUM_WORKER_HEALTH_HOST", "127.0.0.1"),
        help="address of the health endpoint [PODIUM_WORKER_HEALTH_HOST]")  # fmt: skip
    add("--pass-env", action="append", default=[], metavar="NAME",
        help="a variable of the worker's environment that commands also see (repeatable; by default they see "
             "only PATH, HOME, LANG, LC_*, TZ, TMPDIR and USER) [PODIUM_WORKER_PASS_ENV: NAME,NAME]")  # fmt: skip
    add("--containers", choices=["docker"], default=_env("PODIUM_WORKER_CONTAINERS") or None,
        help="run jobs with an image in containers of the Docker engine of DOCKER_HOST (default: the local "
             "socket); without it such jobs go to other workers [PODIUM_WORKER_CONTAINERS]")  # fmt: skip
    return parser


def settings_from(args: argparse.Namespace) -> WorkerSettings:
    """Settings from parsed arguments and `PODIUM_WORKER_PROPERTIES`."""
    properties: dict[str, str] = {}
    for item in filter(None, (_env("PODIUM_WORKER_PROPERTIES", "") or "").split(",")):
        key, value = _property(item.strip())
        properties[key] = value
    properties.update(dict(args.property))
    pass_env = list(dict.fromkeys([*pass_list(_env(PASS_ENV)), *args.pass_env]))
    if not args.id:
        raise ValueError("--id (or PODIUM_WORKER_ID) is required")
    token = _token(args)
    if args.run_as:
        check_run_as(args.run_as)
    return WorkerSettings(
        masters=args.master or pass_list(_env("PODIUM_WORKER_MASTER")) or [DEFAULT_MASTER],
        id=args.id,
        user=args.user or args.id,
        token=SecretStr(token),
        executor_limit=args.executor_limit,
        properties=properties,
        home=Path(args.home),
        heartbeat_interval=args.heartbeat_interval,
        chunk_size=args.chunk_size,
        ca_file=Path(args.ca_file) if args.ca_file else None,
        allow_insecure=args.allow_insecure,
        drain=args.drain,
        health_host=args.health_host,
        health_port=args.health_port if args.health_port is not None else _env_port("PODIUM_WORKER_HEALTH_PORT"),
        pass_env=pass_env,
        run_as=args.run_as or None,
        containers=args.containers,
    )


def _token(args: argparse.Namespace) -> str:
    """The token from --token-file, --token, PODIUM_WORKER_TOKEN_FILE or PODIUM_WORKER_TOKEN, in that order."""
    if args.token and args.token_file:
        raise ValueError("give --token or --token-file, not both")
    path = args.token_file or (None if args.token else _env(TOKEN_FILE))
    if path is None:
        token = args.token or _env(TOKEN)
        if not token:
            raise ValueError("--token-file (or PODIUM_WORKER_TOKEN_FILE, or PODIUM_WORKER_TOKEN) is required")
        return token
    handed_over = _handed_over_fd(path)
    try:
        with open(path, encoding="utf-8") as file:
            if handed_over is None and os.fstat(file.fileno()).st_mode & 0o077:
                logger.warning("the token file %s may be read by other users: make it mode 0600", path)
            token = file.read().strip()
    except OSError as exc:
        raise ValueError(f"cannot read the token file {path}: {exc.strerror}") from None
    finally:
        if handed_over is not None:
            os.close(handed_over)  # the memory file of a restart: read once, gone
    if not token:
        raise ValueError(f"the token file {path} is empty")
    return token


def _handed_over_fd(path: str) -> int | None:
    """The fd of a ``/proc/self/fd/N`` token path (a restart's memory file), else None."""
    head, _, number = path.rpartition("/")
    return int(number) if head == "/proc/self/fd" and number.isdecimal() else None


def check_run_as(name: str) -> User:
    """The user of ``--run-as``, refused unless the worker runs as root.

    Raises:
        ValueError: the worker is not root, the user does not exist or is root.
    """
    if os.geteuid() != 0:
        raise ValueError(
            f"--run-as {name} needs a worker started as root (this one runs as uid {os.geteuid()}); "
            "without --run-as, jobs run as the worker's own user"
        )
    return lookup(name)


def is_secret_name(name: str) -> bool:
    """A ``PODIUM_*`` variable that holds a secret: its name says token, secret, password, key or
    database URL (a ``*_FILE`` variable names a file, which is no secret)."""
    if not name.startswith("PODIUM_") or name.endswith("_FILE"):
        return False
    return any(word in name for word in ("TOKEN", "SECRET", "PASSWORD", "_KEY", "DATABASE_URL"))


def restart_without_secrets(argv: Sequence[str], token: str) -> None:
    """Replace this process by one whose command line and environment hold no secret.

    `/proc/<pid>/cmdline` is readable by every user of the host and `/proc/<pid>/environ` by
    every process of the worker's user, jobs included, and both show what the process was
    started with, whatever it removes later. So a worker given its token on the command line or
    secrets in its environment executes itself again without them (same pid), the token in an
    anonymous memory file named by ``--token-file /proc/self/fd/N``. Returns only if it needs
    not (or cannot: then it carries on with the secrets removed from what its children inherit).
    """
    secrets = [name for name in os.environ if is_secret_name(name)]
    on_command_line = any(arg == "--token" or arg.startswith("--token=") for arg in argv)
    for name in secrets:
        del os.environ[name]  # children never inherit them, even if the restart fails
    os.environ.pop(TOKEN_FILE, None)
    if not secrets and not on_command_line:
        return
    if on_command_line:
        logger.warning("--token is deprecated: every process sees command lines; use --token-file")
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--token", "--token-file"):
            skip = True
        elif not arg.startswith(("--token=", "--token-file=")):
            kept.append(arg)
    try:
        fd = os.memfd_create("podium-worker-token", 0)
        os.write(fd, token.encode())
        os.set_inheritable(fd, True)
        logger.info(
            "restarting without secrets in the command line or environment (%s)", ", ".join(secrets) or "--token"
        )
        os.execv(sys.executable, [sys.executable, "-m", "podium_worker", *kept, "--token-file", f"/proc/self/fd/{fd}"])
    except OSError as exc:
        logger.error("cannot restart without secrets, carrying on: %s", exc)


async def serve(settings: WorkerSettings) -> None:
    """Recover the runs on disk and stay connected until SIGTERM or SIGINT.

    Executors keep running when the worker stops: a restarted worker picks them up. With
    `settings.drain` the first signal starts a drain instead (`podium_worker.drain`), and a
    second one stops at once.
    """
    from podium_worker.connection import MasterConnection
    from podium_worker.drain import Stopper
    from podium_worker.health import HealthServer, document
    from podium_worker.runs import RunSet

    os.environ[PASS_ENV] = ",".join(settings.pass_env)  # what the executors read (they inherit it)
    os.environ[RUN_AS] = settings.run_as or ""
    if settings.run_as is not None:
        prepare_home(settings.home, lookup(settings.run_as))
    runs = RunSet(settings.home, settings.chunk_size, settings.watch_interval)
    runs.recover()
    if settings.containers is not None:
        runs.containers = await start_containers(settings.id, set(runs.runs))
    connection = MasterConnection(settings, runs)
    health: HealthServer | None = None
    if settings.health_port is not None:

        def report() -> dict[str, Any]:
            return document(connection.heartbeat(), connection.connected, connection.master, settings.id)

        health = HealthServer(settings.health_host, settings.health_port, report)
        try:
            await health.start()
        except OSError as exc:  # the port is taken or the address is not ours: the operator's setting
            logger.error(
                "cannot serve the health endpoint on %s:%d: %s", settings.health_host, settings.health_port, exc
            )
            raise SystemExit(1) from None
    stopper = Stopper(connection, runs, settings.drain)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopper.signalled)
    try:
        await connection.run_forever()
    finally:
        await stopper.close()
        if health is not None:
            await health.close()
    runs.detach_all()
    logger.info("worker %s stopped", settings.id)


async def start_containers(worker_id: str, held: set[str]) -> Any:
    """The engine client of ``--containers docker``, once it answered; this worker's containers
    of runs it no longer holds are removed (those of the runs it holds stay with their executors).

    Raises:
        SystemExit: the engine does not answer or cannot run the containers.
    """
    from podium_worker import engine

    try:
        client = await asyncio.to_thread(engine.client)
        version = await asyncio.to_thread(engine.check, client)
        removed = await asyncio.to_thread(engine.remove_orphans, client, worker_id, held)
    except engine.EngineError as exc:
        logger.error("--containers docker: %s", exc)
        raise SystemExit(2) from None
    except Exception as exc:  # docker.from_env on a malformed DOCKER_HOST, say
        logger.error("--containers docker: the Docker engine is out of reach: %s", exc)
        raise SystemExit(2) from None
    for run_id in removed:
        logger.info("removed the container of run %s, which this worker no longer holds", run_id)
    logger.info("jobs with an image run in containers of Docker engine %s", version)
    return client


def prepare_home(home: Path, user: User) -> None:
    """Make the worker's home fit for ``--run-as``: mode 0711 (the user passes through to its
    workspaces but lists nothing), reachable from the root directory by `user`.

    Raises:
        SystemExit: a directory on the way is closed to the user.
    """
    runs = home / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    for directory in (home, runs):
        directory.chmod(0o711)
    closed = closed_on_the_way(home, user.uid, user.groups)
    if closed is not None:
        logger.error(
            "--run-as %s: the user cannot reach %s (mode %o), so not its workspaces under %s either",
            user.name, closed, closed.stat().st_mode & 0o777, home,
        )  # fmt: skip
        raise SystemExit(2)


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and run the worker."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        configure_logging(args.log_format, args.log_level)
        settings = settings_from(args)
        check_master_url(settings)
    except (ValueError, ValidationError) as exc:
        parser.exit(2, f"podium-worker: {exc}\n")
    restart_without_secrets(sys.argv[1:] if argv is None else list(argv), settings.token.get_secret_value())
    asyncio.run(serve(settings))
    sys.exit(0)


if __name__ == "__main__":
    main()
