"""Tests of the log store and the authentication primitives."""

from __future__ import annotations

from pathlib import Path

import pytest

from podium_storage import LogOffsetMismatch, LogStore
from podium_storage.auth import hash_password, hash_token, new_token, verify_password


def test_log_append_at_offset_and_read(tmp_path: Path) -> None:
    """Chunks append only at the current size; reads start at any offset."""
    logs = LogStore(tmp_path / "logs")
    assert logs.size("p", "r") == 0 and logs.read("p", "r") == b""
    assert logs.append("p", "r", 0, b"hello ") == 6
    assert logs.append("p", "r", 6, b"\x00world\xff") == 13
    assert logs.read("p", "r") == b"hello \x00world\xff"
    assert logs.read("p", "r", 6) == b"\x00world\xff"
    assert logs.read("p", "r", 6, 3) == b"\x00wo"
    assert logs.read("p", "r", 100) == b""
    assert logs.delete("p", "r") is True
    assert logs.size("p", "r") == 0
    assert logs.delete("p", "r") is False  # nothing left: the master then announces nothing


@pytest.mark.parametrize("offset", [0, 3, 6])
def test_log_offset_mismatch(tmp_path: Path, offset: int) -> None:
    """A gap or an overlap raises LogOffsetMismatch with the stored size and writes nothing."""
    logs = LogStore(tmp_path)
    logs.append("p", "r", 0, b"abcde")
    with pytest.raises(LogOffsetMismatch) as caught:
        logs.append("p", "r", offset, b"x")
    assert caught.value.size == 5 and logs.read("p", "r") == b"abcde"


@pytest.mark.parametrize("project,run", [("..", "r"), ("p", "../x"), ("p/q", "r"), ("", "r")])
def test_log_refuses_escaping_ids(tmp_path: Path, project: str, run: str) -> None:
    """Ids that could leave the directory are refused."""
    with pytest.raises(ValueError):
        LogStore(tmp_path).append(project, run, 0, b"x")


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
