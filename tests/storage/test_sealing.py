"""Sealing of project secrets: AES-256-GCM bound to project and name, several keys for rotation."""

from __future__ import annotations

import pytest

from podium_storage.sealing import SealingError, SecretsKeys, generate_key


def test_seal_opens_only_for_its_project_and_name() -> None:
    """A sealed value opens back; moved to another name or project, or altered, it does not."""
    keys = SecretsKeys.parse(generate_key())
    sealed = keys.seal("p", "TOKEN", "välue with ünicode")
    assert sealed.startswith(f"v1.{keys.sealing_id}.") and "välue" not in sealed
    assert keys.open("p", "TOKEN", sealed) == "välue with ünicode"
    assert keys.seal("p", "TOKEN", "same") != keys.seal("p", "TOKEN", "same")  # a fresh nonce each time
    for project, name in (("q", "TOKEN"), ("p", "OTHER")):
        with pytest.raises(SealingError, match="does not open"):
            keys.open(project, name, sealed)
    altered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(SealingError):
        keys.open("p", "TOKEN", altered)
    with pytest.raises(SealingError, match="format"):
        keys.open("p", "TOKEN", "plain text")


def test_first_key_seals_every_key_opens() -> None:
    """With a new key first, old values still open; a key no longer configured is named."""
    old, new = generate_key(), generate_key()
    before = SecretsKeys.parse(old)
    sealed = before.seal("p", "TOKEN", "value-123")
    both = SecretsKeys.parse(f"{new}\n{old}\n")
    assert both.sealing_id != before.sealing_id and both.key_of(sealed) == before.sealing_id
    assert both.open("p", "TOKEN", sealed) == "value-123"
    assert both.key_of(both.seal("p", "TOKEN", "v")) == both.sealing_id
    with pytest.raises(SealingError, match=f"key {before.sealing_id}, which is not configured"):
        SecretsKeys.parse(new).open("p", "TOKEN", sealed)


@pytest.mark.parametrize(
    "text,message",
    [("", "no secrets key"), ("   \n", "no secrets key"), ("short", "not base64url|bytes"), ("é" * 44, "base64url")],
)
def test_bad_keys_are_refused(text: str, message: str) -> None:
    """An empty key text, or a key that is not 32 bytes of base64url, is refused with a reason."""
    with pytest.raises(SealingError, match=message):
        SecretsKeys.parse(text)
