"""The streaming masker: a run's secrets never leave the executor in its log, results or reason.

Every secret of the run (and its run token) is looked for in these forms, each replaced by
`MASK`:

- as is (UTF-8);
- base64 at each of the three alignments a value can have inside a longer encoded text, with
  the standard and the URL-safe alphabets (only the characters that depend on the secret's bytes
  alone: the one or two at each end that mix in neighbouring bytes cannot be matched);
- URL-encoded, as ``quote(v, safe="")``, ``quote(v)`` and ``quote_plus(v)`` do, with upper- and
  lower-case hex digits;
- JSON-escaped (the text between the quotes of ``json.dumps(v)``, ASCII-only or not), and
  escaped as Python's ``repr`` does (tracebacks and the executor's own reasons quote with it).

The log is a stream, and a secret may arrive split over any number of writes. `Masker.feed`
therefore holds back the end of what it was given when that end is the beginning of a form
(never more than the longest form minus one byte), and releases it as soon as the next bytes
show it is not one. Held bytes are released by `Masker.flush` when the command's output ends,
never on a timer: a job printing a secret one byte a second would otherwise beat any idle
delay. Output ending in a newline is held only when a secret holds a newline, so live logs
stay live.

Stdlib only (``binascii`` and ``json`` are built in or already loaded): the executor builds a
masker on every run's critical path that has a token or secrets.
"""

from __future__ import annotations

import binascii
import json

TYPE_CHECKING = False  # typing costs milliseconds on every run's start
if TYPE_CHECKING:
    from collections.abc import Iterable

MASK = b"[masked]"
MASK_TEXT = MASK.decode()

MIN_FORM = 6
"""Encoded forms shorter than this are not masked (they would mask common words); a secret itself
is masked at any length, and the server refuses secrets shorter than 8 bytes."""

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _percent(raw: bytes, safe: bytes, plus: bool, hexdigits: str) -> bytes:
    """Percent-encode `raw` like `urllib.parse.quote` (which costs an import of its own)."""
    out = []
    for byte in raw:
        if byte in _UNRESERVED or byte in safe:
            out.append(chr(byte))
        elif plus and byte == 0x20:
            out.append("+")
        else:
            out.append("%" + hexdigits[byte >> 4] + hexdigits[byte & 15])
    return "".join(out).encode()


def _base64(raw: bytes) -> list[bytes]:
    """The base64 characters of `raw` that do not depend on its neighbours, at each alignment."""
    forms = []
    for skip in range(3):
        encoded = binascii.b2a_base64(b"\0" * skip + raw, newline=False)
        # Character j covers bits 6j..6j+6 of the encoded bytes; keep those inside `raw`'s bits.
        start = -(-8 * skip // 6)
        end = 8 * (skip + len(raw)) // 6
        form = encoded[start:end]
        forms += [form, form.translate(_URLSAFE)]
    return forms


def forms(value: str) -> set[bytes]:
    """Every form of `value` the masker looks for (see the module's docstring)."""
    raw = value.encode("utf-8", "surrogatepass")
    if not raw:
        return set()
    found = {raw}
    derived = _base64(raw)
    for hexdigits in ("0123456789ABCDEF", "0123456789abcdef"):
        derived += [
            _percent(raw, b"", False, hexdigits),
            _percent(raw, b"/", False, hexdigits),
            _percent(raw, b"", True, hexdigits),
        ]
    derived += [json.dumps(value)[1:-1].encode(), json.dumps(value, ensure_ascii=False)[1:-1].encode()]
    derived += [repr(value)[1:-1].encode("utf-8", "surrogatepass")]
    found.update(form for form in derived if len(form) >= MIN_FORM)
    return found


class Masker:
    """Replaces every form of the given values by `MASK` in a stream and in whole texts."""

    def __init__(self, values: Iterable[str]) -> None:
        patterns: set[bytes] = set()
        for value in values:
            patterns |= forms(value)
        # Longest first: with two forms starting at one place, the longer one is masked.
        self.patterns = sorted(patterns, key=len, reverse=True)
        self.longest = len(self.patterns[0]) if self.patterns else 0
        self._pending = b""  # bytes held back: they may begin a form
        self._done = 0  # how many of them went out already, inside a `MASK`

    @property
    def held(self) -> int:
        """Bytes held back now, not yet released (at most the longest form minus one)."""
        return len(self._pending) - self._done

    def feed(self, data: bytes) -> bytes:
        """Mask `data`, the next bytes of the stream; return what may go out now."""
        buffer = self._pending + data if self._pending else data
        cut = len(buffer) - self._tail(buffer)
        out, position = self._masked(buffer, cut)
        self._pending = buffer[cut:]
        self._done = max(0, position - cut)
        return out

    def flush(self) -> bytes:
        """The stream ended (or paused for good): release everything held, masked."""
        buffer = self._pending
        out, _ = self._masked(buffer, len(buffer))
        self._pending = b""
        self._done = 0
        return out

    def text(self, value: str) -> str:
        """`value` with every form masked (a whole text: a reason, a result)."""
        raw = value.encode("utf-8", "surrogatepass")
        if not any(pattern in raw for pattern in self.patterns):
            return value
        saved = self._pending, self._done
        self._pending, self._done = b"", 0
        try:
            out, _ = self._masked(raw, len(raw))
        finally:
            self._pending, self._done = saved
        return out.decode("utf-8", "replace")

    def json(self, value: object) -> object:
        """A JSON value with every string in it (keys too) masked."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(key): self.json(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.json(item) for item in value]
        return value

    def _masked(self, buffer: bytes, cut: int) -> tuple[bytes, int]:
        """The bytes of `buffer` that go out, up to `cut` or the end of a form crossing it, and
        the position reached (what lies before `self._done` went out already)."""
        position = self._done
        out = []
        for start, end in self._spans(buffer):
            if start >= cut:
                break  # it may be part of a longer form: decided with the next bytes
            if end <= position:
                continue
            if start > position:
                out.append(buffer[position:start])
            out.append(MASK)
            position = end
        if position < cut:
            out.append(buffer[position:cut])
            position = cut
        return b"".join(out), position

    def _spans(self, buffer: bytes) -> list[tuple[int, int]]:
        """Where forms occur in `buffer`, overlapping occurrences merged, in order."""
        found = []
        for pattern in self.patterns:
            index = buffer.find(pattern)
            while index >= 0:
                found.append((index, index + len(pattern)))
                index = buffer.find(pattern, index + 1)
        if len(found) < 2:
            return found
        found.sort()
        merged = [found[0]]
        for start, end in found[1:]:
            last_start, last_end = merged[-1]
            if start <= last_end:
                merged[-1] = (last_start, max(last_end, end))
            else:
                merged.append((start, end))
        return merged

    def _tail(self, buffer: bytes) -> int:
        """The length of the longest end of `buffer` that begins a form (and is not all of it)."""
        size = len(buffer)
        best = 0
        for pattern in self.patterns:
            reach = min(len(pattern) - 1, size)
            if reach <= best:
                continue
            first = pattern[:1]
            index = buffer.find(first, size - reach)
            while 0 <= index and size - index > best:
                if pattern.startswith(buffer[index:]):
                    best = size - index
                    break
                index = buffer.find(first, index + 1)
        return best
