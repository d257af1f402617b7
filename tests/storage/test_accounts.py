"""Contract tests of workers, users and credentials."""

from __future__ import annotations

import pytest

from podium_model import Role, UserUpdate, WorkerUpdate, utcnow
from podium_storage import AlreadyExists, Storage, StorageError
from podium_storage.auth import hash_password, hash_token, new_token, verify_password


async def test_workers_put_update_deactivate(storage: Storage) -> None:
    """put_worker creates then updates only the fields set; deactivate_workers counts changes."""
    seen = utcnow()
    worker = await storage.put_worker(
        "w1", "workers", WorkerUpdate(properties={"os": "linux"}, executor_limit=4, is_active=True, last_seen=seen)
    )
    assert worker.properties == {"os": "linux"} and worker.executor_limit == 4 and worker.is_active
    assert worker.last_seen == seen and worker.is_enabled
    again = await storage.put_worker("w1", "workers", WorkerUpdate(version="1.2"))
    assert again.version == "1.2" and again.properties == {"os": "linux"} and again.created_at == worker.created_at
    await storage.put_worker("w0", "workers", WorkerUpdate())
    assert [w.id for w in await storage.list_workers()] == ["w0", "w1"]
    disabled = await storage.update_worker("w1", WorkerUpdate(is_enabled=False, should_disconnect=True))
    assert disabled is not None and not disabled.is_enabled and disabled.should_disconnect
    assert await storage.update_worker("nope", WorkerUpdate(is_enabled=False)) is None
    assert await storage.deactivate_workers() == 1
    assert await storage.deactivate_workers() == 0
    stored = await storage.get_worker("w1")
    assert stored is not None and not stored.is_active
    assert await storage.get_worker("nope") is None


async def test_workers_of_several_masters(storage: Storage) -> None:
    """`master` is kept; release_worker only by its master; deactivate_workers(master) spares the others' live ones."""
    from datetime import timedelta

    now = utcnow()
    old = now - timedelta(minutes=5)
    for worker_id, master, seen in (("a", "m1", now), ("b", "m2", now), ("c", "m2", old), ("d", None, now)):
        await storage.put_worker(worker_id, "workers", WorkerUpdate(is_active=True, master=master, last_seen=seen))
    stored = await storage.get_worker("b")
    assert stored is not None and stored.master == "m2"
    assert await storage.release_worker("b", "m1") is None  # m2 holds it now: m1's disconnection is stale
    released = await storage.release_worker("a", "m1")
    assert released is not None and not released.is_active and released.master == "m1"
    await storage.put_worker("a", "workers", WorkerUpdate(is_active=True))
    # m1 starts: its own, those of no master and those of a master gone (unseen since a minute ago).
    assert await storage.deactivate_workers("m1", now - timedelta(minutes=1)) == 3
    assert {w.id for w in await storage.list_workers() if w.is_active} == {"b"}
    await storage.put_worker("c", "workers", WorkerUpdate(is_active=True))  # c: m2's, unseen for 5 minutes
    assert await storage.deactivate_workers(seen_before=now - timedelta(minutes=1)) == 1  # the leader's sweep
    assert {w.id for w in await storage.list_workers() if w.is_active} == {"b"}
    await storage.deactivate_workers("m2")
    assert not any(w.is_active for w in await storage.list_workers())


async def test_touch_workers_sets_last_seen_of_those_named(storage: Storage) -> None:
    """touch_workers writes last_seen of the named workers only; unknown ids and no ids are fine."""
    from datetime import timedelta

    before = utcnow() - timedelta(minutes=5)
    for worker_id in ("a", "b", "c"):
        await storage.put_worker(worker_id, "workers", WorkerUpdate(last_seen=before))
    now = utcnow()
    await storage.touch_workers({"a", "c", "unknown"}, now)
    await storage.touch_workers(set(), now)
    seen = {w.id: w.last_seen for w in await storage.list_workers()}
    assert seen == {"a": now, "b": before, "c": now}


async def test_users_create_update_delete(storage: Storage) -> None:
    """Users are created once, updated by the fields set, and deleted with their credentials."""
    user = await storage.create_user("alice", "Alice", [Role.operator, Role.viewer, Role.operator])
    assert user.roles == [Role.operator, Role.viewer] and user.is_enabled
    with pytest.raises(AlreadyExists):
        await storage.create_user("alice")
    updated = await storage.update_user("alice", UserUpdate(roles=[Role.administrator], is_enabled=False))
    assert updated is not None and updated.roles == [Role.administrator] and updated.display_name == "Alice"
    assert not updated.is_enabled
    assert await storage.update_user("nope", UserUpdate(is_enabled=True)) is None
    await storage.create_user("bob")
    assert [u.id for u in await storage.list_users()] == ["alice", "bob"]
    token = new_token()
    await storage.add_credential("alice", "token", hash_token(token))
    assert await storage.delete_user("alice") is True
    assert await storage.delete_user("alice") is False
    assert await storage.get_user("alice") is None
    assert await storage.find_token(hash_token(token)) is None


async def test_password_is_replaced(storage: Storage) -> None:
    """A new password replaces the previous one; only the newest verifies."""
    await storage.create_user("alice")
    assert await storage.get_password_hash("alice") is None
    await storage.add_credential("alice", "password", hash_password("one"))
    await storage.add_credential("alice", "password", hash_password("two"))
    assert len(await storage.list_credentials("alice", "password")) == 1
    stored = await storage.get_password_hash("alice")
    assert verify_password("two", stored) and not verify_password("one", stored)


async def test_tokens_lookup_list_and_revoke(storage: Storage) -> None:
    """A token is found by its hash with its user, listed newest first, and revoked by id."""
    await storage.create_user("alice", roles=[Role.worker])
    first, second = new_token(), new_token()
    expires = utcnow()
    one = await storage.add_credential("alice", "token", hash_token(first), "ci", expires_at=expires)
    two = await storage.add_credential("alice", "token", hash_token(second))
    await storage.add_credential("alice", "password", hash_password("pw"))
    found = await storage.find_token(hash_token(first))
    assert found is not None
    credential, user = found
    assert credential == one and credential.description == "ci" and credential.expires_at == expires
    assert user.id == "alice" and user.roles == [Role.worker]
    assert await storage.find_token(hash_token("nope")) is None
    assert [c.id for c in await storage.list_credentials("alice", "token")] == [two.id, one.id]
    assert len(await storage.list_credentials("alice")) == 3
    assert await storage.delete_credential("alice", one.id) is True
    assert await storage.delete_credential("alice", one.id) is False
    assert await storage.find_token(hash_token(first)) is None
    password_hash = await storage.get_password_hash("alice")
    assert password_hash is not None and await storage.find_token(password_hash) is None


async def test_credential_of_unknown_user_is_refused(storage: Storage) -> None:
    """A credential needs its user."""
    with pytest.raises(StorageError):
        await storage.add_credential("nope", "token", hash_token(new_token()))


async def test_ping(storage: Storage) -> None:
    """ping answers when the database does."""
    await storage.ping()
