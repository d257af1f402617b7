"""Contract tests of project secrets (SQLite, PostgreSQL, MongoDB): sealed values, names and dates."""

from __future__ import annotations

import pytest

from podium_model.secrets import SecretInfo
from podium_storage import AlreadyExists, Storage, StorageError
from podium_storage.interface import SecretRecord


async def test_put_list_get_delete(storage: Storage) -> None:
    """A secret is created, replaced in place (new `updated_at`), listed by name and deleted."""
    await storage.put_project("p")
    created = await storage.put_secret("p", "TOKEN", "sealed-1")
    await storage.put_secret("p", "A_KEY", "sealed-a")
    replaced = await storage.put_secret("p", "TOKEN", "sealed-2")
    assert replaced.created_at == created.created_at and replaced.updated_at >= created.updated_at
    listed = await storage.list_secrets("p")
    assert [s.name for s in listed] == ["A_KEY", "TOKEN"] and listed[1] == replaced
    assert await storage.get_sealed_secrets("p", ["TOKEN", "A_KEY", "MISSING"]) == {
        "TOKEN": "sealed-2",
        "A_KEY": "sealed-a",
    }
    assert await storage.get_sealed_secrets("p", []) == {}
    assert await storage.get_sealed_secrets("other", ["TOKEN"]) == {}
    assert await storage.delete_secret("p", "TOKEN") is True
    assert await storage.delete_secret("p", "TOKEN") is False
    assert [s.name for s in await storage.list_secrets("p")] == ["A_KEY"]
    assert await storage.list_secrets("unknown") == []


async def test_secret_needs_its_project_and_goes_with_it(storage: Storage) -> None:
    """No secret for an unknown project; deleting a project deletes its secrets, not others'."""
    with pytest.raises(StorageError):
        await storage.put_secret("nope", "TOKEN", "sealed")
    await storage.put_project("p")
    await storage.put_project("q")
    await storage.put_secret("p", "TOKEN", "sealed-p")
    await storage.put_secret("q", "TOKEN", "sealed-q")
    assert await storage.delete_project("p")
    assert await storage.export_secrets() == [
        SecretRecord(project="q", name="TOKEN", sealed="sealed-q", **_dates(await storage.list_secrets("q")))
    ]
    await storage.put_project("p")
    assert await storage.list_secrets("p") == []


async def test_reseal_is_compare_and_set(storage: Storage) -> None:
    """Resealing replaces only the value it read and keeps the dates; a value set meanwhile wins."""
    await storage.put_project("p")
    before = await storage.put_secret("p", "TOKEN", "old")
    assert await storage.reseal_secret("p", "TOKEN", "stale", "new") is False
    assert await storage.reseal_secret("p", "TOKEN", "old", "new") is True
    assert await storage.get_sealed_secrets("p", ["TOKEN"]) == {"TOKEN": "new"}
    assert await storage.list_secrets("p") == [before]
    assert await storage.reseal_secret("p", "GONE", "old", "new") is False


async def test_import_keeps_everything_and_refuses_duplicates(storage: Storage) -> None:
    """An imported secret reads back exactly; the same name again, or an unknown project, is refused."""
    await storage.put_project("p")
    made = await storage.put_secret("p", "TOKEN", "sealed")
    record = SecretRecord(project="p", name="OTHER", sealed="x", created_at=made.created_at, updated_at=made.updated_at)
    await storage.import_secret(record)
    assert record in await storage.export_secrets()
    with pytest.raises(AlreadyExists):
        await storage.import_secret(record)
    with pytest.raises(StorageError):
        await storage.import_secret(record.model_copy(update={"project": "nope"}))


def _dates(listed: list[SecretInfo]) -> dict[str, object]:
    (info,) = listed
    return {"created_at": info.created_at, "updated_at": info.updated_at}
