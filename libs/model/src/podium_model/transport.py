"""Transport security shared by every Podium process that calls another one.

One rule everywhere: a URL that carries a secret (a worker's token, the control secret, the
users' tokens and passwords) may be plain `http://`/`ws://` only to a loopback host, unless the
operator says `--allow-insecure`; an `https://`/`wss://` peer is verified (chain and host name)
against the system certificate store or a given CA file. This module holds the checks and the
TLS context; each service keeps its own flag names and wording of what the secret is.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})

SECURE_SCHEMES = {"http": "https", "ws": "wss"}
"""The TLS scheme of each plain scheme."""


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, option: str, plain: str, allow_insecure: bool, secret: str) -> None:
    """Refuse a URL that is not `plain://` or its TLS scheme, or plain to a host off loopback.

    Args:
        url: the URL to check.
        option: the flag that gave it, named in the message (`--master`).
        plain: the plain scheme, `http` or `ws` (its TLS twin is `https` or `wss`).
        allow_insecure: the operator's `--allow-insecure`: plain to any host is accepted.
        secret: what would cross the network in clear (`the token`), named in the message.

    Raises:
        ValueError: with the message to show the operator.
    """
    secure = SECURE_SCHEMES[plain]
    parts = urlsplit(url)
    if parts.scheme not in (plain, secure) or not parts.hostname:
        article = "an" if plain == "http" else "a"
        raise ValueError(f"{option} {url!r} is not {article} {plain}:// or {secure}:// URL")
    if parts.scheme == plain and not is_loopback(parts.hostname) and not allow_insecure:
        raise ValueError(
            f"{option} {url!r} is plain {plain}:// to {parts.hostname}, which is not loopback: "
            f"use {secure}:// (or --allow-insecure to send {secret} in clear)"
        )


def check_file(path: str | os.PathLike[str] | None, option: str = "--ca-file") -> None:
    """Refuse a file (CA bundle, certificate, key) that is given but is not a readable file.

    Raises:
        ValueError: with the message to show the operator.
    """
    if path is not None and not (os.path.isfile(path) and os.access(path, os.R_OK)):
        raise ValueError(f"{option} {os.fspath(path)} is not a readable file")


def check_server_files(cert: str | os.PathLike[str] | None, key: str | os.PathLike[str] | None) -> None:
    """Refuse a server's `--tls-cert`/`--tls-key` unless both or neither are given, and readable.

    Raises:
        ValueError: with the message to show the operator.
    """
    if (cert is None) != (key is None):
        raise ValueError("--tls-cert and --tls-key go together")
    check_file(cert, "--tls-cert")
    check_file(key, "--tls-key")


def is_secure(url: str) -> bool:
    """True for an `https://` or `wss://` URL."""
    return urlsplit(url).scheme in ("https", "wss")


def client_context(ca_file: str | os.PathLike[str] | None = None) -> ssl.SSLContext:
    """A client TLS context verifying the chain and the host name.

    It trusts `ca_file` when given, else the system store (which honours `SSL_CERT_FILE` and
    `SSL_CERT_DIR`), the same for every Podium client rather than each library's own bundle.
    """
    cafile = os.fspath(ca_file) if ca_file is not None else None
    return ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)


def find_tls_error(error: BaseException) -> ssl.SSLError | None:
    """The `ssl.SSLError` behind `error` (itself, or a cause of an HTTP library's wrapper), if any."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def describe_tls_failure(error: ssl.SSLError, peer: str) -> str:
    """Why the TLS handshake with `peer` (`the master`, `the api`) failed, in one line."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"{peer}'s TLS certificate was refused: {error.verify_message} (verify code {error.verify_code})"
    return f"TLS handshake with {peer} failed: {error.reason or error}"
