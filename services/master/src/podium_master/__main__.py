"""`podium-master`: the scheduler and the workers' websocket server.

Every flag has a `PODIUM_*` variable (architecture page); flags win over variables.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from pydantic import SecretStr, ValidationError

from podium_master.settings import DEFAULT_DATABASE_URL, DEFAULT_LOG_DIR, MasterSettings
from podium_model import transport
from podium_model.logformat import configure as configure_logging
from podium_storage.secretfiles import read_secret_file, scrub_environment, secrets_keys

logger = logging.getLogger(__name__)


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name) or default


def _retention(text: str) -> tuple[str, float]:
    project, sep, days = text.partition("=")
    try:
        value = float(days)
    except ValueError:
        value = -1.0
    if not sep or not project or value < 0:
        raise argparse.ArgumentTypeError(f"retention {text!r} is not PROJECT=DAYS (DAYS >= 0)")
    return project, value


def _env_retention() -> list[tuple[str, float]]:
    items = filter(None, (_env("PODIUM_MASTER_RETENTION_PROJECTS", "") or "").split(","))
    return [_retention(item.strip()) for item in items]


def build_parser() -> argparse.ArgumentParser:
    """The command line of `podium-master`."""
    parser = argparse.ArgumentParser(prog="podium-master", description="Podium master: dispatches runs to workers.")
    add = parser.add_argument
    add("--host", default=_env("PODIUM_MASTER_HOST", "127.0.0.1"), help="interface to listen on [PODIUM_MASTER_HOST]")
    add("--port", type=int, default=int(_env("PODIUM_MASTER_PORT", "8701") or 8701), help="port [PODIUM_MASTER_PORT]")
    add("--database-url", default=_env("PODIUM_DATABASE_URL", DEFAULT_DATABASE_URL), help="[PODIUM_DATABASE_URL]")
    add("--log-dir", default=_env("PODIUM_LOG_DIR", DEFAULT_LOG_DIR), help="run logs directory [PODIUM_LOG_DIR]")
    add(
        "--config",
        default=_env("PODIUM_MASTER_CONFIG"),
        help="configuration file applied at start [PODIUM_MASTER_CONFIG]",
    )
    add("--control-secret", default=_env("PODIUM_CONTROL_SECRET"), help="control API secret [PODIUM_CONTROL_SECRET]")
    add("--control-secret-file", default=_env("PODIUM_CONTROL_SECRET_FILE"),
        help="file holding the control API secret [PODIUM_CONTROL_SECRET_FILE]")  # fmt: skip
    add("--database-url-file", default=_env("PODIUM_DATABASE_URL_FILE"),
        help="file holding the database URL, with its password [PODIUM_DATABASE_URL_FILE]")  # fmt: skip
    add("--secrets-key-file", default=_env("PODIUM_SECRETS_KEY_FILE"),
        help="file holding the keys opening project secrets [PODIUM_SECRETS_KEY_FILE, or the keys in "
        "PODIUM_SECRETS_KEY]")  # fmt: skip
    add(
        "--api-url",
        default=_env("PODIUM_MASTER_API_URL"),
        help="api URL given to run commands as PODIUM_API_URL, with a run token [PODIUM_MASTER_API_URL]",
    )
    add("--no-migrate", action="store_true", help="do not migrate the database schema at start-up")
    add(
        "--selector",
        default=_env("PODIUM_MASTER_SELECTOR"),
        help="worker selector module:callable [PODIUM_MASTER_SELECTOR]",
    )
    add("--sweep-interval", type=float, default=float(_env("PODIUM_MASTER_SWEEP_INTERVAL", "5") or 5),
        help="seconds between safety dispatch sweeps [PODIUM_MASTER_SWEEP_INTERVAL]")  # fmt: skip
    add("--heartbeat-timeout", type=float, default=float(_env("PODIUM_MASTER_HEARTBEAT_TIMEOUT", "30") or 30),
        help="drop a worker silent this many seconds [PODIUM_MASTER_HEARTBEAT_TIMEOUT]")  # fmt: skip
    add("--worker-lost-timeout", type=float,
        default=float(_env("PODIUM_MASTER_WORKER_LOST_TIMEOUT", "900") or 900),
        help="end the running runs of a worker away this many seconds, 0: never "
        "[PODIUM_MASTER_WORKER_LOST_TIMEOUT]")  # fmt: skip
    add("--abort-grace", type=float, default=float(_env("PODIUM_MASTER_ABORT_GRACE", "10") or 10),
        help="seconds between SIGTERM and SIGKILL on abort [PODIUM_MASTER_ABORT_GRACE]")  # fmt: skip
    add("--pending-expiry", type=float, default=float(_env("PODIUM_MASTER_PENDING_EXPIRY", "86400") or 86400),
        help="cancel a run pending this many seconds [PODIUM_MASTER_PENDING_EXPIRY]")  # fmt: skip
    add("--retention-days", type=float, default=float(_env("PODIUM_MASTER_RETENTION_DAYS", "0") or 0),
        help="delete final runs and logs older than this; 0: forever [PODIUM_MASTER_RETENTION_DAYS]")  # fmt: skip
    add("--retention-project", action="append", type=_retention, default=[], metavar="PROJECT=DAYS",
        help="retention of one project, 0: forever (repeatable) [PODIUM_MASTER_RETENTION_PROJECTS]")  # fmt: skip
    add("--retention-interval", type=float,
        default=float(_env("PODIUM_MASTER_RETENTION_INTERVAL", "3600") or 3600),
        help="seconds between retention passes [PODIUM_MASTER_RETENTION_INTERVAL]")  # fmt: skip
    add("--log-level", default=_env("PODIUM_LOG_LEVEL", "INFO"), help="logging level [PODIUM_LOG_LEVEL]")
    add("--log-format", choices=["text", "json"], default=_env("PODIUM_LOG_FORMAT", "text"),
        help="service log format [PODIUM_LOG_FORMAT]")  # fmt: skip
    add(
        "--tls-cert",
        default=_env("PODIUM_MASTER_TLS_CERT"),
        help="serve https/wss with this PEM certificate [PODIUM_MASTER_TLS_CERT]",
    )
    add(
        "--tls-key",
        default=_env("PODIUM_MASTER_TLS_KEY"),
        help="the certificate's PEM private key [PODIUM_MASTER_TLS_KEY]",
    )
    return parser


def _secret(value: str | None, file: str | None, option: str) -> str | None:
    """A secret from its file when one is given, else the plain value (flag or variable)."""
    return read_secret_file(Path(file), option) if file else value or None


def settings_from(args: argparse.Namespace) -> MasterSettings:
    """Settings from parsed arguments; secrets from their files when given.

    Raises:
        ValueError: a secret file cannot be read, or the secrets key is malformed.
    """
    control_secret = _secret(args.control_secret, args.control_secret_file, "--control-secret-file")
    secrets_key = _secret(_env("PODIUM_SECRETS_KEY"), args.secrets_key_file, "--secrets-key-file")
    secrets_keys(secrets_key or "")  # a malformed key refuses to start, not at the first dispatch
    return MasterSettings(
        host=args.host,
        port=args.port,
        database_url=_secret(args.database_url, args.database_url_file, "--database-url-file") or DEFAULT_DATABASE_URL,
        log_dir=Path(args.log_dir),
        config=Path(args.config) if args.config else None,
        control_secret=SecretStr(control_secret) if control_secret else None,
        secrets_key=SecretStr(secrets_key) if secrets_key else None,
        api_url=args.api_url or None,
        migrate=not args.no_migrate,
        selector=args.selector,
        sweep_interval=args.sweep_interval,
        heartbeat_timeout=args.heartbeat_timeout,
        worker_lost_timeout=args.worker_lost_timeout,
        abort_grace=args.abort_grace,
        pending_expiry=args.pending_expiry,
        retention_days=args.retention_days or None,
        retention_projects=dict(_env_retention() + args.retention_project),
        retention_interval=args.retention_interval,
    )


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and serve until SIGTERM or Ctrl-C (both exit with code 0)."""
    # uvicorn restores the previous handlers after its graceful shutdown and re-raises the
    # signal; with these handlers that ends in exit code 0 instead of death by signal.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    signal.signal(signal.SIGINT, _exit_cleanly)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        configure_logging(args.log_format, args.log_level)
    except ValueError as exc:
        parser.exit(2, f"podium-master: {exc}\n")
    try:
        settings = settings_from(args)
    except ValidationError as exc:  # its messages only: its input holds the secrets given
        errors = (f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        sys.exit(f"podium-master: invalid settings: {'; '.join(errors)}")
    except (ValueError, argparse.ArgumentTypeError) as exc:
        sys.exit(f"podium-master: {exc}")
    scrub_environment()  # the settings hold their copies; a selector's or migration's children inherit none
    try:
        transport.check_server_files(args.tls_cert or None, args.tls_key or None)
    except ValueError as exc:
        parser.exit(2, f"podium-master: {exc}\n")
    if settings.control_secret is None:
        logger.warning("no control secret: the control API refuses every call (the safety sweep still dispatches)")

    import uvicorn

    from podium_master.app import create_app
    from podium_master.selector import load_selector

    try:
        load_selector(settings.selector)
    except ValueError as exc:
        sys.exit(f"podium-master: {exc}")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        ws="websockets-sansio",
        ws_max_size=settings.max_chunk_size + 1024,
        # No server pings: workers ping the master themselves and send heartbeats, and the
        # watchdog drops a silent worker; a ping each way per worker cost a fleet's master
        # more than its heartbeats.
        ws_ping_interval=None,
        log_level=args.log_level.lower(),
        log_config=None,  # logging is configured above (text or JSON)
        access_log=False,
        ssl_certfile=args.tls_cert,
        ssl_keyfile=args.tls_key,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
