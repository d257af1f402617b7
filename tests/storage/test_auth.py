"""Tests of the authentication primitives (the log store's: `test_logs.py`)."""

from __future__ import annotations

from podium_storage.auth import hash_password, hash_token, new_token, verify_password


def test_password_hashing() -> None:
    """Argon2id hashes verify the right password only; a missing hash never verifies."""
    hashed = hash_password("secret")
    assert hashed.startswith("$argon2id$")
    assert verify_password("secret", hashed)
    assert not verify_password("wrong", hashed)
    assert not verify_password("secret", None)
    assert not verify_password("secret", "not a hash")


def test_tokens() -> None:
    """Tokens are long, random and prefixed (never an option's `-`); stored as a SHA-256 hex digest."""
    first, second = new_token(), new_token()
    assert first != second and len(first) >= 47 and first.startswith("pdm_")
    assert hash_token(first) == hash_token(first) and len(hash_token(first)) == 64
    assert hash_token(first) != hash_token(second)
