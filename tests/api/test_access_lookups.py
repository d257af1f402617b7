"""The grants of a caller are read at most once per request, and not at all when global roles suffice."""

from __future__ import annotations

from pathlib import Path

import pytest

from podium_api.app import create_app
from podium_api.settings import ApiSettings
from podium_model.access import ProjectRole
from podium_storage import migrate, open_storage
from podium_storage.auth import hash_token, new_token
from tests.api.conftest import seed, serve
from tests.support import free_port


async def test_grants_are_looked_up_once_and_only_when_needed(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A global operator triggers and a viewer reads without a grants lookup; a granted user costs one."""
    await migrate(database_url)
    settings = ApiSettings(
        database_url=database_url,
        log_dir=tmp_path / "logs",
        master_url=f"http://127.0.0.1:{free_port()}",
        control_secret="test-secret",
        master_timeout=1.0,
    )
    async with open_storage(database_url) as storage:
        tokens = await seed(storage)
        await storage.create_user("ann")
        await storage.put_grant("demo", "user", "ann", ProjectRole.operator)
        tokens["ann"] = new_token()
        await storage.add_credential("ann", "token", hash_token(tokens["ann"]), "test")
        calls: list[str] = []
        lookup = storage.grants_of

        async def counted(user: str) -> dict[str, ProjectRole]:
            calls.append(user)
            return await lookup(user)

        monkeypatch.setattr(storage, "grants_of", counted)
        async with serve(create_app(settings, storage=storage)) as client:

            async def call(who: str, method: str, path: str) -> int:
                headers = {"Authorization": f"Bearer {tokens[who]}"}
                body = {"parameters": {}} if method == "POST" else None
                return (await client.request(method, f"/api/v1{path}", headers=headers, json=body)).status_code

            assert await call("operator", "POST", "/projects/demo/jobs/hello/runs") == 201
            assert await call("viewer", "GET", "/projects/demo/runs") == 200
            assert await call("viewer", "GET", "/projects") == 200
            assert calls == []
            assert await call("ann", "POST", "/projects/demo/jobs/hello/runs") == 201
            assert calls == ["ann"]
            assert await call("ann", "GET", "/projects") == 200  # authorizer and listing: still one lookup
            assert calls == ["ann", "ann"]
