"""Keyset cursors of run listings, the same for every backend.

Run ids are UUIDv7 strings, so "newest first" is id descending and a cursor only needs the
last id of the page it continues. It is opaque to clients (base64 of a small JSON object).
"""

from __future__ import annotations

import base64
import binascii
import json

from podium_storage.interface import InvalidCursor

MAX_PAGE = 1000
"""The largest page `list_runs` answers, whatever `limit` asks."""


def page_limit(limit: int) -> int:
    """`limit` bounded to 1..MAX_PAGE."""
    return max(1, min(limit, MAX_PAGE))


def encode_cursor(last_id: str) -> str:
    """The opaque cursor that continues a listing after the run `last_id`."""
    return base64.urlsafe_b64encode(json.dumps({"before": last_id}, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str, longest: int = 36) -> str:
    """The id a cursor continues after (a run's; an id of at most `longest` characters).

    Raises:
        InvalidCursor: the cursor was not made by `encode_cursor`.
    """
    try:
        before = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))["before"]
    except (ValueError, TypeError, KeyError, UnicodeError, binascii.Error):
        raise InvalidCursor("invalid cursor") from None
    if not isinstance(before, str) or not 0 < len(before) <= longest:
        raise InvalidCursor("invalid cursor")
    return before
