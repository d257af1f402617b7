"""Transport security of the worker's connection: the TLS context and the plain-ws rule.

`wss://` masters are verified against the system store or `--ca-file` (hostname included);
a plain `ws://` master is accepted only on loopback unless `--allow-insecure` is given, since
the worker's token would cross the network in clear. The rule and the checks are shared with
the other services in `podium_model.transport`.
"""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

from podium_model import transport
from podium_model.transport import is_loopback
from podium_worker.settings import WorkerSettings

__all__ = ["check_master_url", "client_context", "describe_tls_failure", "is_loopback"]


def check_master_url(settings: WorkerSettings) -> None:
    """Refuse master URLs the worker must not use (each of them is checked).

    Raises:
        ValueError: not a ws:// or wss:// URL, or plain ws:// to a non-loopback host without
            `allow_insecure`, or a CA file that is not a readable file.
    """
    for url in settings.masters:
        transport.check_url(
            url, option="--master", plain="ws", allow_insecure=settings.allow_insecure, secret="the token"
        )
    transport.check_file(settings.ca_file)


def client_context(settings: WorkerSettings) -> ssl.SSLContext | None:
    """The TLS context for the wss:// masters (None when all are ws://): verifies the chain and the hostname."""
    if not any(urlsplit(url).scheme == "wss" for url in settings.masters):
        return None
    return transport.client_context(settings.ca_file)


def describe_tls_failure(error: ssl.SSLError) -> str:
    """Why the master's certificate was refused, in one line."""
    return transport.describe_tls_failure(error, "the master")
