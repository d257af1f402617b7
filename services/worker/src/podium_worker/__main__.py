"""`podium-worker`: connect to the master and execute runs.

Every flag has a `PODIUM_WORKER_*` variable (architecture page); flags win over variables.
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
from podium_worker.security import check_master_url
from podium_worker.settings import DEFAULT_MASTER, WorkerSettings

logger = logging.getLogger(__name__)


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
    parser = argparse.ArgumentParser(prog="podium-worker", description="Podium worker: executes runs for the master.")
    add = parser.add_argument
    add("--master", default=_env("PODIUM_WORKER_MASTER", DEFAULT_MASTER), help="[PODIUM_WORKER_MASTER]")
    add("--id", default=_env("PODIUM_WORKER_ID"), help="this worker's id [PODIUM_WORKER_ID]")
    add("--user", default=_env("PODIUM_WORKER_USER"), help="user of the token (default: the id) [PODIUM_WORKER_USER]")
    add("--token", default=_env("PODIUM_WORKER_TOKEN"), help="the user's token [PODIUM_WORKER_TOKEN]")
    add("--executor-limit", type=int, default=int(_env("PODIUM_WORKER_EXECUTOR_LIMIT", str(os.cpu_count() or 1)) or 1),
        help="runs at once at most (default: CPUs) [PODIUM_WORKER_EXECUTOR_LIMIT]")  # fmt: skip
    add("--property", action="append", type=_property, default=[], metavar="KEY=VALUE",
        help="a property matched against job properties (repeatable) [PODIUM_WORKER_PROPERTIES: k=v,k=v]")  # fmt: skip
    add("--home", default=_env("PODIUM_WORKER_HOME", "./.podium/worker"), help="run directories [PODIUM_WORKER_HOME]")
    add("--heartbeat-interval", type=float, default=float(_env("PODIUM_WORKER_HEARTBEAT_INTERVAL", "10") or 10),
        help="seconds between heartbeats [PODIUM_WORKER_HEARTBEAT_INTERVAL]")  # fmt: skip
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
    if not args.token:
        raise ValueError("--token (or PODIUM_WORKER_TOKEN) is required")
    return WorkerSettings(
        master=args.master,
        id=args.id,
        user=args.user or args.id,
        token=SecretStr(args.token),
        executor_limit=args.executor_limit,
        properties=properties,
        home=Path(args.home),
        heartbeat_interval=args.heartbeat_interval,
        ca_file=Path(args.ca_file) if args.ca_file else None,
        allow_insecure=args.allow_insecure,
        drain=args.drain,
        health_host=args.health_host,
        health_port=args.health_port if args.health_port is not None else _env_port("PODIUM_WORKER_HEALTH_PORT"),
        pass_env=pass_env,
    )


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
    runs = RunSet(settings.home, settings.chunk_size, settings.watch_interval)
    runs.recover()
    connection = MasterConnection(settings, runs)
    health: HealthServer | None = None
    if settings.health_port is not None:

        def report() -> dict[str, Any]:
            return document(connection.heartbeat(), connection.connected, settings.master, settings.id)

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
    asyncio.run(serve(settings))
    sys.exit(0)


if __name__ == "__main__":
    main()
