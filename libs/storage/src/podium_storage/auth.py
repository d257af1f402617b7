"""Authentication primitives: Argon2id password hashes and random tokens stored as SHA-256."""

from __future__ import annotations

import functools
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()  # Argon2id with the library's current recommended parameters


@functools.cache
def _dummy_hash() -> str:
    """A real hash of a random password, made on first use (not at import: it costs CPU).

    Verifying against it when the user is unknown makes a login for an unknown user cost the
    same time as one with a wrong password.
    """
    return _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """Hash a password with Argon2id."""
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """True if `password` matches `password_hash`; takes the same time when the hash is None."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    """A new bearer token: 32 random bytes, URL-safe text."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored and looked up."""
    return hashlib.sha256(token.encode("utf-8", errors="surrogateescape")).hexdigest()
