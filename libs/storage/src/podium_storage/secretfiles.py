"""Secrets read from files, so that they never appear on a command line.

Master and api take their control secret, database URL and secrets key from a file
(`--control-secret-file`, `--database-url-file`, `--secrets-key-file`, or the same names as
`PODIUM_*_FILE` variables) or from the plain variable; a file given wins over the plain value.
A process's arguments are readable by every user of the host (`ps`, `/proc/<pid>/cmdline`),
its environment and files only by its own user.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from podium_storage.sealing import SealingError, SecretsKeys

logger = logging.getLogger(__name__)

SECRET_FILE_BYTES = 64 * 1024
"""The largest secret file read: a URL, a secret or a few keys, never more."""

SECRET_VARIABLES = (
    "PODIUM_CONTROL_SECRET",
    "PODIUM_API_CONTROL_SECRET",
    "PODIUM_DATABASE_URL",
    "PODIUM_API_DATABASE_URL",
    "PODIUM_MASTER_DATABASE_URL",
    "PODIUM_SECRETS_KEY",
    "PODIUM_API_SECRETS_KEY",
    "PODIUM_API_METRICS_TOKEN",
    "PODIUM_ADMIN_PASSWORD",
    "PODIUM_WORKER_TOKEN",
)
"""Variables holding secrets, which a service removes from its own environment once read, so
that nothing it starts (a selector's subprocess, a migration tool) inherits them."""


def read_secret_file(path: Path, option: str) -> str:
    """The secret held by the file `path`, without surrounding whitespace.

    Raises:
        ValueError: the file cannot be read, is too large or is empty (naming `option`).
    """
    try:
        with path.open("rb") as file:
            data = file.read(SECRET_FILE_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"{option}: cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > SECRET_FILE_BYTES:
        raise ValueError(f"{option}: {path} holds more than {SECRET_FILE_BYTES} bytes; not a secret file")
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ValueError(f"{option}: {path} is not UTF-8 text") from None
    if not text:
        raise ValueError(f"{option}: {path} is empty")
    if os.name == "posix" and path.stat().st_mode & 0o077:
        logger.warning("%s: %s is readable by other users of this host (chmod 600 it)", option, path)
    return text


def secrets_keys(text: str) -> SecretsKeys | None:
    """The secrets keys of a key text (`PODIUM_SECRETS_KEY` or a key file's), None when empty.

    Raises:
        ValueError: a key is malformed.
    """
    if not text.strip():
        return None
    try:
        return SecretsKeys.parse(text)
    except SealingError as exc:
        raise ValueError(f"secrets key: {exc}") from None


def scrub_environment() -> None:
    """Remove the secret variables from this process's environment (its children's from now on).

    Call once the settings are read: they keep their own copies.
    """
    for name in SECRET_VARIABLES:
        os.environ.pop(name, None)
