"""`podium-web`: serve the UI and forward `/api/` to podium-api."""

from __future__ import annotations

import argparse
import logging.config
import signal
import sys
from collections.abc import Sequence

import uvicorn

from podium_web.app import create_app
from podium_web.settings import WebSettings, check_transport


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line; unset flags fall back to the `PODIUM_*` variables."""
    parser = argparse.ArgumentParser(
        prog="podium-web",
        description="Serve the Podium web UI and forward every /api/ request to podium-api.",
        epilog="Each flag falls back to its environment variable, then to the default.",
    )
    parser.add_argument("--host", help="address to listen on [PODIUM_WEB_HOST, default 127.0.0.1]")
    parser.add_argument("--port", type=int, help="port to listen on [PODIUM_WEB_PORT, default 8080]")
    parser.add_argument(
        "--api-url", dest="api_url", help="base URL of podium-api [PODIUM_API_URL, default http://127.0.0.1:8702]"
    )
    parser.add_argument("--tls-cert", help="serve https with this PEM certificate [PODIUM_WEB_TLS_CERT]")
    parser.add_argument("--tls-key", help="the certificate's PEM private key [PODIUM_WEB_TLS_KEY]")
    parser.add_argument(
        "--api-ca-file", help="CA bundle verifying an https api [PODIUM_WEB_API_CA_FILE, default: the system store]"
    )
    parser.add_argument(
        "--allow-insecure",
        action="store_true",
        default=None,
        help="allow a plain http:// api URL off loopback: tokens and passwords cross the network in clear "
        "[PODIUM_WEB_ALLOW_INSECURE]",
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the web service until SIGINT or SIGTERM."""
    arguments = parse_arguments(argv)
    overrides = {k: v for k, v in vars(arguments).items() if v is not None and k != "log_level"}
    try:
        settings = WebSettings(**overrides)
        check_transport(settings)
    except ValueError as exc:  # a pydantic ValidationError is a ValueError too
        sys.stderr.write(f"podium-web: {exc}\n")
        sys.exit(2)
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
            "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
            "root": {"handlers": ["console"], "level": arguments.log_level.upper()},
        }
    )
    scheme = "https" if settings.tls_cert else "http"
    logging.getLogger(__name__).info(
        "podium-web on %s://%s:%s, api at %s", scheme, settings.host, settings.port, settings.api_url
    )
    # uvicorn re-raises the signal that stopped it once it has shut down; a no-op handler
    # in place then turns a clean shutdown into exit status 0, as operators expect.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, _stopped)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        log_level=arguments.log_level,
        timeout_graceful_shutdown=int(settings.shutdown_timeout),
        proxy_headers=False,
        ssl_certfile=settings.tls_cert,
        ssl_keyfile=settings.tls_key,
    )


def _stopped(signum: int, frame: object) -> None:
    """Swallow the stop signal uvicorn re-raises after its graceful shutdown."""


if __name__ == "__main__":
    main()
