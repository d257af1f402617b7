"""Key rotation of project secrets with `python -m podium_storage.admin rotate-secrets-key`."""

from __future__ import annotations

import asyncio
from pathlib import Path

from podium_storage import open_storage
from podium_storage.sealing import SecretsKeys, generate_key
from tests.storage.test_admin import admin


async def _seal(url: str, keys: SecretsKeys, secrets: dict[str, str]) -> None:
    async with open_storage(url) as storage:
        await storage.put_project("p")
        for name, value in secrets.items():
            await storage.put_secret("p", name, keys.seal("p", name, value))


async def _sealed(url: str) -> dict[str, str]:
    async with open_storage(url) as storage:
        return {s.name: s.sealed for s in await storage.export_secrets()}


def test_rotation_reseals_with_the_first_key(database_url: str, tmp_path: Path) -> None:
    """A new key first, the old after: every secret is resealed with the new one and still opens; dates kept."""
    assert admin("--database-url", database_url, "migrate").returncode == 0
    old = admin("generate-secrets-key").stdout.strip()
    new = generate_key()
    assert old != new and SecretsKeys.parse(old)
    asyncio.run(_seal(database_url, SecretsKeys.parse(old), {"A_TOKEN": "value-of-a-1", "B_TOKEN": "value-of-b-2"}))
    key_file = tmp_path / "keys"
    key_file.write_text(f"{new}\n{old}\n")
    key_file.chmod(0o600)
    rotated = admin("--database-url", database_url, "rotate-secrets-key", "--secrets-key-file", str(key_file))
    assert rotated.returncode == 0, rotated.stderr
    assert "resealed 2 secrets" in rotated.stdout
    after = asyncio.run(_sealed(database_url))
    only_new = SecretsKeys.parse(new)
    assert {name: only_new.open("p", name, sealed) for name, sealed in after.items()} == {
        "A_TOKEN": "value-of-a-1",
        "B_TOKEN": "value-of-b-2",
    }
    again = admin("--database-url", database_url, "rotate-secrets-key", env={"PODIUM_SECRETS_KEY": new})
    assert again.returncode == 0 and "resealed 0 secrets" in again.stdout and "2 had it already" in again.stdout


def test_rotation_without_the_old_key_names_what_does_not_open(database_url: str) -> None:
    """Rotating with only a new key reseals nothing it cannot open, and names those secrets (exit 2)."""
    assert admin("--database-url", database_url, "migrate").returncode == 0
    asyncio.run(_seal(database_url, SecretsKeys.parse(generate_key()), {"TOKEN": "value-123"}))
    before = asyncio.run(_sealed(database_url))
    refused = admin("--database-url", database_url, "rotate-secrets-key", env={"PODIUM_SECRETS_KEY": generate_key()})
    assert refused.returncode == 2 and "p/TOKEN" in refused.stderr and "value-123" not in refused.stderr
    assert asyncio.run(_sealed(database_url)) == before
    missing = admin("--database-url", database_url, "rotate-secrets-key", env={"PODIUM_SECRETS_KEY": ""})
    assert missing.returncode == 2 and "no secrets key" in missing.stderr
