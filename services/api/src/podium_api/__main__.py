"""`podium-api`: run the public HTTP API (flags override `PODIUM_*` variables)."""

from __future__ import annotations

import argparse
import logging.config
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Any, NoReturn


def parse_args(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """The settings given on the command line (only those given)."""
    parser = argparse.ArgumentParser(
        prog="podium-api",
        description="Podium's public HTTP API. Every flag also reads a PODIUM_* environment variable.",
    )
    parser.add_argument("--host", help="address to listen on (PODIUM_API_HOST; default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (PODIUM_API_PORT; default 8702)")
    parser.add_argument("--database-url", help="database URL shared with the master (PODIUM_DATABASE_URL)")
    parser.add_argument(
        "--log-store",
        choices=["directory", "database"],
        help="where run logs are kept, as the master keeps them: files under --log-dir, or the database "
        "(PODIUM_LOG_STORE; default directory)",
    )
    parser.add_argument(
        "--log-dir", help="log directory (the directory store) and artifacts, shared with the master (PODIUM_LOG_DIR)"
    )
    parser.add_argument(
        "--master-url",
        action="append",
        help="a master's base URL, repeatable for several masters (PODIUM_MASTER_URL, comma-separated; "
        "http://127.0.0.1:8701)",
    )
    parser.add_argument(
        "--master-discovery",
        choices=["none", "dns"],
        help="dns: each master URL's host name resolves to every master's address, again every 10 s "
        "(PODIUM_API_MASTER_DISCOVERY; default none)",
    )
    parser.add_argument(
        "--control-secret", help="secret shared with the master (PODIUM_CONTROL_SECRET; prefer the file)"
    )
    parser.add_argument("--control-secret-file", help="file holding the control secret (PODIUM_CONTROL_SECRET_FILE)")
    parser.add_argument(
        "--database-url-file", help="file holding the database URL, with its password (PODIUM_DATABASE_URL_FILE)"
    )
    parser.add_argument(
        "--secrets-key-file",
        help="file holding the keys sealing project secrets, the first seals (PODIUM_SECRETS_KEY_FILE, "
        "or the keys in PODIUM_SECRETS_KEY)",
    )
    parser.add_argument("--token-lifetime", help="validity of login tokens, seconds or ISO 8601 (default 7 days)")
    parser.add_argument(
        "--metrics-token", help="bearer token allowed to read /api/v1/metrics only (PODIUM_API_METRICS_TOKEN)"
    )
    parser.add_argument("--log-level", help="logging level (PODIUM_API_LOG_LEVEL; default INFO)")
    parser.add_argument("--tls-cert", help="serve https with this PEM certificate (PODIUM_API_TLS_CERT)")
    parser.add_argument("--tls-key", help="the certificate's PEM private key (PODIUM_API_TLS_KEY)")
    parser.add_argument(
        "--master-ca-file",
        help="CA bundle verifying an https master (PODIUM_API_MASTER_CA_FILE; default: the system store)",
    )
    parser.add_argument(
        "--allow-insecure",
        action="store_true",
        default=None,
        help="allow a plain http:// master URL off loopback: the control secret crosses the network in clear "
        "(PODIUM_API_ALLOW_INSECURE)",
    )
    args = parser.parse_args(argv)
    if args.master_url is not None:  # repeated: the settings' comma-separated list
        args.master_url = ",".join(args.master_url)
    return {key: value for key, value in vars(args).items() if value is not None}


def configure_logging(level: str) -> None:
    """Apply the service's logging configuration once."""
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
            "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
            "root": {"handlers": ["console"], "level": level.upper()},
            "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
        }
    )


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `podium-api`; SIGTERM and SIGINT stop it gracefully with exit code 0."""
    # uvicorn restores the previous handlers after its graceful shutdown and re-raises the
    # signal; with these handlers that ends in exit code 0 instead of death by signal.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    signal.signal(signal.SIGINT, _exit_cleanly)
    arguments = parse_args(argv)
    # Heavy imports after the handlers: a SIGTERM during start-up still exits cleanly.
    import uvicorn
    from pydantic import ValidationError

    from podium_api.app import create_app
    from podium_api.settings import ApiSettings, check_transport
    from podium_storage.secretfiles import scrub_environment

    try:
        settings = ApiSettings(**arguments)
        check_transport(settings)
        configure_logging(settings.log_level)
        app = create_app(settings)
    except ValidationError as exc:  # its messages only: its input holds the secrets given
        errors = (f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        _refuse(f"invalid settings: {'; '.join(errors)}")
    except ValueError as exc:
        _refuse(str(exc))
    scrub_environment()  # the settings hold their copies; what this process starts inherits none
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        ssl_certfile=settings.tls_cert,
        ssl_keyfile=settings.tls_key,
    )


def _refuse(reason: str) -> NoReturn:
    """Exit with code 2 (usage), saying why, as argparse does for a bad flag."""
    sys.stderr.write(f"podium-api: {reason}\n")
    sys.exit(2)


if __name__ == "__main__":
    main()
