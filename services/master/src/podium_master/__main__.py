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

from pydantic import ValidationError

from podium_master.settings import MasterSettings, parse_retention
from podium_model import transport
from podium_model.logformat import configure as configure_logging
from podium_storage.logs import check_log_store
from podium_storage.secretfiles import read_secret_file, scrub_environment, secrets_keys

logger = logging.getLogger(__name__)


def _retention(text: str) -> tuple[str, float]:
    try:
        return parse_retention(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    """The command line of `podium-master`; a flag not given leaves its variable (or default) in force."""
    parser = argparse.ArgumentParser(
        prog="podium-master",
        description="Podium master: dispatches runs to workers. Every flag also reads a PODIUM_* variable.",
        argument_default=argparse.SUPPRESS,  # only the flags given reach the settings
    )
    add = parser.add_argument
    add("--host", help="interface to listen on [PODIUM_MASTER_HOST; 127.0.0.1]")
    add("--master-id",
        help="this master's id among the masters of one database, at most 64 characters "
        "[PODIUM_MASTER_MASTER_ID; hostname:pid]")  # fmt: skip
    add("--leader-interval", type=float,
        help="seconds between tries to lead (the scheduler and retention run on one master; "
        "PostgreSQL, MongoDB) [PODIUM_MASTER_LEADER_INTERVAL; 1]")  # fmt: skip
    add("--port", type=int, help="port [PODIUM_MASTER_PORT; 8701]")
    add("--database-url", help="[PODIUM_DATABASE_URL]")
    add("--log-store", choices=["directory", "database"],
        help="where run logs are kept: files under --log-dir, or the database (PostgreSQL, MongoDB) "
        "[PODIUM_LOG_STORE; directory]")  # fmt: skip
    add("--log-dir", help="run logs directory (the directory store) and artifacts directory [PODIUM_LOG_DIR]")
    add("--config", help="configuration file applied at start [PODIUM_MASTER_CONFIG]")
    add("--control-secret", help="control API secret [PODIUM_CONTROL_SECRET]")
    add("--control-secret-file", help="file holding the control API secret [PODIUM_CONTROL_SECRET_FILE]")
    add("--database-url-file",
        help="file holding the database URL, with its password [PODIUM_DATABASE_URL_FILE]")  # fmt: skip
    add("--secrets-key-file",
        help="file holding the keys opening project secrets [PODIUM_SECRETS_KEY_FILE, or the keys in "
        "PODIUM_SECRETS_KEY]")  # fmt: skip
    add("--api-url", help="api URL given to run commands as PODIUM_API_URL, with a run token [PODIUM_MASTER_API_URL]")
    add("--no-migrate", dest="migrate", action="store_false", help="do not migrate the database schema at start-up")
    add("--selector", help="worker selector module:callable [PODIUM_MASTER_SELECTOR]")
    add("--sweep-interval", type=float,
        help="seconds between safety dispatch sweeps [PODIUM_MASTER_SWEEP_INTERVAL; 5]")  # fmt: skip
    add("--heartbeat-timeout", type=float,
        help="drop a worker silent this many seconds [PODIUM_MASTER_HEARTBEAT_TIMEOUT; 30]")  # fmt: skip
    add("--worker-lost-timeout", type=float,
        help="end the running runs of a worker away this many seconds, 0: never "
        "[PODIUM_MASTER_WORKER_LOST_TIMEOUT; 900]")  # fmt: skip
    add("--abort-grace", type=float,
        help="seconds between SIGTERM and SIGKILL on abort [PODIUM_MASTER_ABORT_GRACE; 10]")  # fmt: skip
    add("--pending-expiry", type=float,
        help="cancel a run pending this many seconds [PODIUM_MASTER_PENDING_EXPIRY; 86400]")  # fmt: skip
    add("--retention-days", type=float,
        help="delete final runs and logs older than this; 0: forever [PODIUM_MASTER_RETENTION_DAYS]")  # fmt: skip
    add("--retention-project", dest="retention_project", action="append", type=_retention, metavar="PROJECT=DAYS",
        help="retention of one project, 0: forever (repeatable) [PODIUM_MASTER_RETENTION_PROJECTS]")  # fmt: skip
    add("--retention-interval", type=float,
        help="seconds between retention passes [PODIUM_MASTER_RETENTION_INTERVAL; 3600]")  # fmt: skip
    add("--delivery-retry-delay", type=float,
        help="seconds before a failed delivery is tried again, doubling per attempt "
        "[PODIUM_MASTER_DELIVERY_RETRY_DELAY; 5]")  # fmt: skip
    add("--delivery-retry-max", type=float,
        help="longest wait between two attempts of a delivery [PODIUM_MASTER_DELIVERY_RETRY_MAX; 300]")  # fmt: skip
    add("--delivery-give-up", type=float,
        help="seconds after a run's end when its deliveries are given up "
        "[PODIUM_MASTER_DELIVERY_GIVE_UP; 3600]")  # fmt: skip
    add("--delivery-timeout", type=float,
        help="seconds one delivery attempt may take [PODIUM_MASTER_DELIVERY_TIMEOUT; 10]")  # fmt: skip
    add("--log-level", help="logging level [PODIUM_LOG_LEVEL; INFO]")
    add("--log-format", choices=["text", "json"], help="service log format [PODIUM_LOG_FORMAT; text]")
    add("--tls-cert", help="serve https/wss with this PEM certificate [PODIUM_MASTER_TLS_CERT]")
    add("--tls-key", help="the certificate's PEM private key [PODIUM_MASTER_TLS_KEY]")
    return parser


SECRET_FILES = (
    ("control_secret", "PODIUM_CONTROL_SECRET_FILE", "--control-secret-file"),
    ("database_url", "PODIUM_DATABASE_URL_FILE", "--database-url-file"),
    ("secrets_key", "PODIUM_SECRETS_KEY_FILE", "--secrets-key-file"),
)
"""Settings that may come from a file: field, variable naming the file, flag naming the file."""


def settings_from(args: argparse.Namespace) -> MasterSettings:
    """Settings from the flags given, over the variables; `--retention-project` adds to the variable's.

    A secret's file (flag, else variable) wins over its plain value.

    Raises:
        ValueError: a secret file cannot be read, the secrets key is malformed, or the log store
            cannot live in the database (SQLite).
        ValidationError: a setting is invalid.
    """
    given = vars(args).copy()
    projects = given.pop("retention_project", [])
    for field, variable, option in SECRET_FILES:
        path = given.pop(f"{field}_file", None) or os.environ.get(variable)
        if path:
            given[field] = read_secret_file(Path(path), option)
    settings = MasterSettings(**given)
    if projects:
        settings.retention_projects = {**settings.retention_projects, **dict(projects)}
    key = settings.secrets_key.get_secret_value() if settings.secrets_key is not None else ""
    secrets_keys(key)  # a malformed key refuses to start, not at the first dispatch
    check_log_store(settings.log_store, settings.database_url)
    return settings


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
        settings = settings_from(args)
    except ValidationError as exc:  # its messages only: its input holds the secrets given
        errors = (f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        sys.exit(f"podium-master: invalid settings: {'; '.join(errors)}")
    except ValueError as exc:
        sys.exit(f"podium-master: {exc}")
    scrub_environment()  # the settings hold their copies; a selector's or migration's children inherit none
    try:
        configure_logging(settings.log_format, settings.log_level)
    except ValueError as exc:
        parser.exit(2, f"podium-master: {exc}\n")
    try:
        transport.check_server_files(settings.tls_cert, settings.tls_key)
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
        log_level=settings.log_level.lower(),
        log_config=None,  # logging is configured above (text or JSON)
        access_log=False,
        ssl_certfile=settings.tls_cert,
        ssl_keyfile=settings.tls_key,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
