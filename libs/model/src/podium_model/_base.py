"""Shared building blocks of the wire contracts: slugs, UTC dates, pages."""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

SLUG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, max_length=64)]
"""Identifier chosen by people: projects, jobs, schedules, users, workers."""


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(microsecond=value.microsecond // 1000 * 1000)


UtcDatetime = Annotated[datetime, AfterValidator(_aware)]
"""A timezone-aware UTC datetime, to the millisecond; naive inputs are taken as UTC.

Milliseconds are what every storage keeps (MongoDB's dates hold no more), so a date reads
back exactly as it was written whatever the backend."""

T = TypeVar("T")


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC, to the millisecond (see `UtcDatetime`)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


_RANDOM_BITS = 74  # rand_a (12 bits) and rand_b (62 bits) of the UUIDv7 layout
_last_id = (0, 0)  # (milliseconds, random bits) of the newest id this process made
_id_lock = threading.Lock()


def new_id() -> str:
    """Return a new time-ordered UUID (version 7) as a string.

    Runs and tokens get these: sorting by id sorts by creation time, so a single index
    serves the "newest first" listings and keyset cursors. Within a process ids are strictly
    increasing (RFC 9562, section 6.2, method 2): in the same millisecond as the previous id,
    or if the clock went back, the random bits of the previous id plus one are used instead.
    """
    global _last_id
    ms = time.time_ns() // 1_000_000
    bits = int.from_bytes(os.urandom(10), "big") >> (80 - _RANDOM_BITS)
    with _id_lock:
        last_ms, last_bits = _last_id
        if ms <= last_ms:
            ms, bits = last_ms, last_bits + 1
            if bits >> _RANDOM_BITS:  # 2**74 ids in one millisecond: borrow the next one
                ms, bits = ms + 1, 0
        _last_id = (ms, bits)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (bits >> 62) << 64
    value |= 0b10 << 62
    value |= bits & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


class Model(BaseModel):
    """Base of every wire model: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Page(Model, Generic[T]):
    """One page of a listing, newest first, with an opaque cursor to the next page."""

    items: list[T]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` to get the next page; null at the end")
