"""Transport security of the worker's connection: the TLS context and the plain-ws rule.

`wss://` masters are verified against the system store or `--ca-file` (hostname included);
a plain `ws://` master is accepted only on loopback unless `--allow-insecure` is given, since
the worker's token would cross the network in clear.
"""

from __future__ import annotations

import ipaddress
import ssl
from urllib.parse import urlsplit

from podium_worker.settings import WorkerSettings

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_master_url(settings: WorkerSettings) -> None:
    """Refuse a master URL the worker must not use.

    Raises:
        ValueError: not a ws:// or wss:// URL, or plain ws:// to a non-loopback host without
            `allow_insecure`, or a CA file with plain ws://.
    """
    parts = urlsplit(settings.master)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"--master {settings.master!r} is not a ws:// or wss:// URL")
    if parts.scheme == "ws" and not is_loopback(parts.hostname) and not settings.allow_insecure:
        raise ValueError(
            f"--master {settings.master!r} is plain ws:// to {parts.hostname}, which is not loopback: "
            "use wss:// (or --allow-insecure to send the token in clear)"
        )
    if settings.ca_file is not None and not settings.ca_file.is_file():
        raise ValueError(f"--ca-file {settings.ca_file} is not a readable file")


def client_context(settings: WorkerSettings) -> ssl.SSLContext | None:
    """The TLS context for a wss:// master (None for ws://): verifies the chain and the hostname."""
    if urlsplit(settings.master).scheme != "wss":
        return None
    cafile = str(settings.ca_file) if settings.ca_file is not None else None
    return ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)


def describe_tls_failure(error: ssl.SSLError) -> str:
    """Why the master's certificate was refused, in one line."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"the master's TLS certificate was refused: {error.verify_message} (verify code {error.verify_code})"
    return f"TLS handshake with the master failed: {error.reason or error}"
