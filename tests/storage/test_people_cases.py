"""Users, credentials and workers on MongoDB."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from podium_model import Role, UserUpdate, WorkerUpdate
from podium_storage.auth import hash_password, hash_token, new_token, verify_password
from podium_storage.interface import AlreadyExists, Storage, StorageError


async def test_users_create_update_list_delete(storage: Storage) -> None:
    """Users are created once, updated field by field, listed by id and deleted."""
    ann = await storage.create_user("ann", "Ann", [Role.administrator])
    await storage.create_user("bob")
    with pytest.raises(AlreadyExists):
        await storage.create_user("ann")
    assert await storage.get_user("ann") == ann and ann.roles == [Role.administrator]
    updated = await storage.update_user("ann", UserUpdate(roles=[Role.viewer, Role.operator], is_enabled=False))
    assert updated is not None and updated.display_name == "Ann" and not updated.is_enabled
    assert updated.roles == [Role.operator, Role.viewer]  # stored once each, sorted
    assert await storage.update_user("nobody", UserUpdate(display_name="x")) is None
    assert [u.id for u in await storage.list_users()] == ["ann", "bob"]
    assert await storage.delete_user("bob") is True
    assert await storage.delete_user("bob") is False
    assert await storage.get_user("bob") is None


async def test_new_password_replaces_previous(storage: Storage) -> None:
    """Only the newest password of a user is kept."""
    await storage.create_user("ann")
    assert await storage.get_password_hash("ann") is None
    await storage.add_credential("ann", "password", hash_password("old"))
    await storage.add_credential("ann", "password", hash_password("new"))
    assert verify_password("new", await storage.get_password_hash("ann"))
    assert len(await storage.list_credentials("ann", "password")) == 1


async def test_tokens_found_listed_and_revoked(storage: Storage) -> None:
    """A token is found by its hash with its user, listed newest first and revoked."""
    ann = await storage.create_user("ann")
    await storage.create_user("bob")
    expires = datetime(2031, 5, 6, 7, 8, 9, 10000, tzinfo=UTC)
    token = new_token()
    first = await storage.add_credential("ann", "token", hash_token(token), "laptop", expires)
    second = await storage.add_credential("ann", "token", hash_token(new_token()), "ci")
    await storage.add_credential("ann", "password", hash_password("pw"))
    found = await storage.find_token(hash_token(token))
    assert found == (first, ann) and first.expires_at == expires
    assert await storage.find_token(hash_token("other")) is None
    assert [c.id for c in await storage.list_credentials("ann", "token")] == [second.id, first.id]
    assert len(await storage.list_credentials("ann")) == 3
    assert await storage.delete_credential("bob", first.id) is False
    assert await storage.delete_credential("ann", first.id) is True
    assert await storage.find_token(hash_token(token)) is None


async def test_deleting_a_user_drops_credentials(storage: Storage) -> None:
    """A deleted user's tokens no longer authenticate."""
    await storage.create_user("ann")
    token = new_token()
    await storage.add_credential("ann", "token", hash_token(token))
    await storage.delete_user("ann")
    assert await storage.find_token(hash_token(token)) is None
    assert await storage.list_credentials("ann") == []


async def test_credential_of_unknown_user_fails(storage: Storage) -> None:
    """A credential needs its user."""
    with pytest.raises(StorageError):
        await storage.add_credential("nobody", "token", hash_token(new_token()))


async def test_worker_put_update_and_deactivate(storage: Storage) -> None:
    """A worker is created with defaults, updated field by field, and deactivated at start-up."""
    seen = datetime(2030, 1, 1, tzinfo=UTC)
    created = await storage.put_worker("w1", "ann", WorkerUpdate(is_active=True, properties={"os.name": "linux"}))
    assert created.owner == "ann" and created.is_active and created.is_enabled and created.executor_limit == 1
    assert created.properties == {"os.name": "linux"}
    again = await storage.put_worker("w1", "bob", WorkerUpdate(executor_limit=4, last_seen=seen))
    assert again.owner == "bob" and again.executor_limit == 4 and again.is_active and again.last_seen == seen
    assert again.properties == {"os.name": "linux"} and again.created_at == created.created_at
    await storage.put_worker("w0", "ann", WorkerUpdate())
    assert [w.id for w in await storage.list_workers()] == ["w0", "w1"]
    disabled = await storage.update_worker("w1", WorkerUpdate(is_enabled=False, should_disconnect=True))
    assert disabled is not None and not disabled.is_enabled and disabled.should_disconnect
    assert await storage.update_worker("nope", WorkerUpdate(is_enabled=False)) is None
    assert await storage.deactivate_workers() == 1
    assert await storage.deactivate_workers() == 0
    stored = await storage.get_worker("w1")
    assert stored is not None and not stored.is_active
    assert await storage.get_worker("nope") is None
