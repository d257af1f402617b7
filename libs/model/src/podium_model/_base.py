"""Shared building blocks of the wire contracts: slugs, UTC dates, pages."""

from __future__ import annotations

import os
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


def new_id() -> str:
    """Return a new time-ordered UUID (version 7) as a string.

    Runs and tokens get these: sorting by id sorts by creation time, so a single index
    serves the "newest first" listings and keyset cursors.
    """
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


class Model(BaseModel):
    """Base of every wire model: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Page(Model, Generic[T]):
    """One page of a listing, newest first, with an opaque cursor to the next page."""

    items: list[T]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` to get the next page; null at the end")
