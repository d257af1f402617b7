"""Authentication primitives: Argon2id password hashes, random tokens stored as SHA-256, run tokens.

A run token (`podium-run.<run id>.<signature>`) is stateless: the master mints it for a run with
the control secret it shares with the api, which checks the signature and then the run itself
(unknown or ended runs are refused), so nothing is stored and the token dies with its run.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
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


TOKEN_PREFIX = "pdm_"
"""Starts every token: it tells a Podium secret at a glance (and to secret scanners), and a
token can never begin with `-`, which command lines would take for an option."""


def new_token() -> str:
    """A new bearer token: `pdm_` and 32 random bytes as URL-safe text."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored and looked up."""
    return hashlib.sha256(token.encode("utf-8", errors="surrogateescape")).hexdigest()


RUN_TOKEN_PREFIX = "podium-run."
"""Every run token starts with this; other tokens never do (they are plain URL-safe base64)."""


def _run_signature(secret: str, run_id: str) -> str:
    digest = hmac.new(secret.encode(), f"podium-run:{run_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def mint_run_token(secret: str, run_id: str) -> str:
    """The token given to the commands of run `run_id`, signed with the control secret."""
    if not secret:
        raise ValueError("a run token needs a control secret")
    return f"{RUN_TOKEN_PREFIX}{run_id}.{_run_signature(secret, run_id)}"


def parse_run_token(secret: str, token: str) -> str | None:
    """The run id a run token was minted for, or None when it is not one signed with `secret`."""
    if not secret or not token.startswith(RUN_TOKEN_PREFIX):
        return None
    run_id, dot, signature = token.removeprefix(RUN_TOKEN_PREFIX).rpartition(".")
    if not dot or not run_id:
        return None
    expected = _run_signature(secret, run_id)
    if not hmac.compare_digest(signature.encode(errors="surrogateescape"), expected.encode()):
        return None
    return run_id
