"""`RunSecrets`: what the master gives a run of a job naming secrets, or the reason it cannot."""

from __future__ import annotations

from pathlib import Path

import pytest

from podium_master.secrets import RunSecrets, SecretsUnavailable
from podium_storage import migrate, open_storage
from podium_storage.sealing import SecretsKeys, generate_key
from tests.databases import sqlite_url


async def test_values_open_or_name_what_is_missing(tmp_path: Path) -> None:
    """Values open with the master's keys; a missing secret, another key or no key is a reason naming it."""
    url = sqlite_url(tmp_path)
    await migrate(url)
    keys = SecretsKeys.parse(generate_key())
    async with open_storage(url) as storage:
        await storage.put_project("p")
        await storage.put_secret("p", "A_KEY", keys.seal("p", "A_KEY", "value-of-a"))
        await storage.put_secret("p", "B_KEY", keys.seal("p", "B_KEY", "value-of-b"))
        secrets = RunSecrets(storage, keys)
        assert await secrets.values("p", ["A_KEY", "B_KEY"]) == {"A_KEY": "value-of-a", "B_KEY": "value-of-b"}
        with pytest.raises(SecretsUnavailable, match="secret GONE of project p does not exist"):
            await secrets.values("p", ["A_KEY", "GONE"])
        with pytest.raises(SecretsUnavailable, match="no secrets key") as no_key:
            await RunSecrets(storage, None).values("p", ["A_KEY"])
        with pytest.raises(SecretsUnavailable, match="A_KEY is sealed with key") as other:
            await RunSecrets(storage, SecretsKeys.parse(generate_key())).values("p", ["A_KEY"])
        assert "value-of-a" not in str(no_key.value) + str(other.value)
