"""The streaming masker: every form of a secret masked however the stream is cut, nothing else."""

from __future__ import annotations

import base64
import json
import re
import urllib.parse

from hypothesis import given, settings
from hypothesis import strategies as st

from podium_worker.masking import MASK, Masker, forms

SECRET = "hunter2-is/not+a good=secret?é"


def stream(masker: Masker, chunks: list[bytes]) -> bytes:
    """Everything the masker lets out for `chunks`, then its flush; the holdback stays bounded."""
    out = []
    for chunk in chunks:
        out.append(masker.feed(chunk))
        assert masker.held <= max(masker.longest - 1, 0)
    out.append(masker.flush())
    return b"".join(out)


def encodings(value: str) -> list[bytes]:
    """The forms a job would print: whole, base64 at three alignments, URL-encoded, JSON-escaped."""
    raw = value.encode()
    printed = [raw]
    printed += [base64.b64encode(prefix + raw + b"!") for prefix in (b"", b"a", b"ab")]
    printed += [base64.urlsafe_b64encode(b"xy" + raw)]
    printed += [urllib.parse.quote(value, safe="").encode(), urllib.parse.quote_plus(value).encode()]
    printed += [re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), urllib.parse.quote(value)).encode()]
    printed += [json.dumps(value).encode(), json.dumps(value, ensure_ascii=False).encode()]
    return printed


def test_every_form_is_masked() -> None:
    """Each encoding of the secret, in the middle of other text, leaves no form of it behind."""
    masker = Masker([SECRET])
    for printed in encodings(SECRET):
        out = stream(masker, [b"before " + printed + b" after\n"])
        assert MASK in out, printed
        assert out.startswith(b"before ") and out.endswith(b" after\n"), out
        assert not any(form in out for form in forms(SECRET)), out


def test_text_without_secrets_passes_unchanged_and_unheld() -> None:
    """Lines that hold no secret go out at once and byte for byte."""
    masker = Masker([SECRET])
    for line in (b"hello\n", b"hunter\n", b"\x00\xff binary\n", b""):
        assert masker.feed(line) == line
        assert masker.held == 0


def test_a_prefix_of_a_secret_is_held_then_released() -> None:
    """The end of a write that begins a secret waits for the next write; the flush releases it."""
    masker = Masker([SECRET])
    assert masker.feed(b"x hunter") == b"x "
    assert masker.held == len(b"hunter")
    assert masker.feed(b"s\n") == b"hunters\n"
    assert masker.feed(b"hunter2") == b""
    assert masker.flush() == b"hunter2"


def test_one_byte_at_a_time() -> None:
    """A secret fed one byte per write is still masked whole."""
    raw = f"[{SECRET}]".encode()
    assert stream(Masker([SECRET]), [raw[i : i + 1] for i in range(len(raw))]) == b"[" + MASK + b"]"


def test_overlapping_occurrences_are_masked_as_one() -> None:
    """A secret overlapping itself, across a write boundary, leaves none of its bytes."""
    secret = "abcXYZab"
    text = b"abcXYZabcXYZab"
    for cut in range(len(text) + 1):
        out = stream(Masker([secret]), [text[:cut], text[cut:]])
        assert b"XYZ" not in out and b"c" not in out, (cut, out)


def test_whole_texts_and_json() -> None:
    """Reasons and results are masked whole, keys included; other values stay as they are."""
    masker = Masker([SECRET, "other-secret"])
    assert masker.text(f"failed: {SECRET}") == "failed: [masked]"
    assert masker.text("nothing here") == "nothing here"
    value = {"key": [SECRET, 3, None, {"other-secret": True}], "n": 1.5}
    assert masker.json(value) == {"key": ["[masked]", 3, None, {"[masked]": True}], "n": 1.5}


def test_short_encodings_are_not_masked() -> None:
    """A form shorter than six bytes is not looked for (it would mask ordinary words)."""
    assert all(len(form) >= 6 for form in forms("12345678"))
    assert forms("") == set()


@settings(max_examples=200, deadline=None)
@given(
    secret=st.text(min_size=8, max_size=40),
    before=st.binary(max_size=60),
    after=st.binary(max_size=60),
    which=st.integers(min_value=0, max_value=9),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8),
)
def test_any_cut_of_any_encoding_is_masked(
    secret: str, before: bytes, after: bytes, which: int, cuts: list[int]
) -> None:
    """Whatever the secret, its encoding, the text around it and the write boundaries, no form
    of the secret survives."""
    try:
        secret.encode()
    except UnicodeEncodeError:
        return  # a lone surrogate cannot be printed by a job either
    printed = encodings(secret)[which]
    text = before + printed + after
    points = sorted({cut % (len(text) + 1) for cut in cuts})
    chunks = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    for out in (stream(Masker([secret]), [text]), stream(Masker([secret]), chunks)):
        assert MASK in out
        assert not any(form in out for form in forms(secret)), (chunks, out)


@settings(max_examples=100, deadline=None)
@given(secret=st.text(alphabet="abc", min_size=8, max_size=12), text=st.binary(max_size=200))
def test_unrelated_bytes_survive(secret: str, text: bytes) -> None:
    """Bytes with no form of the secret in them come out exactly as they went in."""
    if any(form in text for form in forms(secret)):
        return
    assert stream(Masker([secret]), [text[:50], text[50:]]) == text
