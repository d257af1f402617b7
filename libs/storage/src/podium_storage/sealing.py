"""Encryption of project secrets at rest: AES-256-GCM under keys given to master and api.

A sealed value is the text `v1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`:

- the key id is the first 8 characters of base64url(SHA-256(key)), so a value names the key it
  was sealed with and several keys can be configured at once;
- the nonce is 12 random bytes, fresh for every sealing;
- the associated data is `podium-secret:<project>/<name>`, so a sealed value copied into
  another project or name in the database does not open there.

Keys are 32 random bytes written as base64url (44 characters, `generate_key()`). A key file (or
`PODIUM_SECRETS_KEY`) holds one or more keys separated by whitespace: the first seals, every
one opens. Rotating is therefore: put a new key first, keep the old one after it, restart master
and api, run `python -m podium_storage.admin rotate-secrets-key` (which reseals every secret
with the first key), then remove the old key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12


class SealingError(Exception):
    """A key that is not one, or a sealed value that does not open with the configured keys."""


def generate_key() -> str:
    """A new random key, as the text a key file holds."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def _key_id(key: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(key).digest()).decode("ascii")[:8]


def _decode_key(text: str, number: int) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise SealingError(f"key {number} is not base64url") from None
    if len(key) != KEY_BYTES:
        raise SealingError(f"key {number} holds {len(key)} bytes, not {KEY_BYTES} (make one with generate-secrets-key)")
    return key


def _associated(project: str, name: str) -> bytes:
    return f"podium-secret:{project}/{name}".encode()


class SecretsKeys:
    """The configured keys: the first seals, any opens what it sealed."""

    def __init__(self, keys: Iterable[bytes]) -> None:
        self._keys = {_key_id(key): AESGCM(key) for key in keys}
        if not self._keys:
            raise SealingError("no secrets key given")
        self._sealing_id = next(iter(self._keys))

    @classmethod
    def parse(cls, text: str) -> SecretsKeys:
        """Keys from the text of a key file or of `PODIUM_SECRETS_KEY` (whitespace-separated).

        Raises:
            SealingError: no key, or one that is not 32 bytes of base64url.
        """
        return cls(_decode_key(part, number) for number, part in enumerate(text.split(), start=1))

    @property
    def sealing_id(self) -> str:
        """The id of the key that seals."""
        return self._sealing_id

    def seal(self, project: str, name: str, value: str) -> str:
        """`value` encrypted with the first key, bound to `project` and `name`."""
        nonce = os.urandom(NONCE_BYTES)
        data = self._keys[self._sealing_id].encrypt(nonce, value.encode("utf-8"), _associated(project, name))
        return f"{VERSION}.{self._sealing_id}.{base64.urlsafe_b64encode(nonce + data).decode('ascii')}"

    def key_of(self, sealed: str) -> str:
        """The key id a sealed value names (whether or not that key is configured)."""
        return sealed.split(".", 2)[1] if sealed.count(".") >= 2 else ""

    def open(self, project: str, name: str, sealed: str) -> str:
        """The value of a sealed secret of `project` named `name`.

        Raises:
            SealingError: the value was sealed with a key not configured here, for another
                project or name, or was altered.
        """
        version, _, rest = sealed.partition(".")
        key_id, _, payload = rest.partition(".")
        if version != VERSION:
            raise SealingError(f"secret {name}: unknown sealing format {version!r}")
        key = self._keys.get(key_id)
        if key is None:
            raise SealingError(f"secret {name} is sealed with key {key_id}, which is not configured")
        try:
            data = base64.urlsafe_b64decode(payload.encode("ascii"))
            return key.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], _associated(project, name)).decode("utf-8")
        except (InvalidTag, binascii.Error, ValueError):
            raise SealingError(f"secret {name} of project {project} does not open: altered or moved") from None
