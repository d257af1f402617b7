"""Contract tests of grants, groups and narrowed tokens (SQLite, PostgreSQL, MongoDB)."""

from __future__ import annotations

import pytest

from podium_model.access import ProjectPermission, ProjectRole
from podium_storage import Storage, StorageError
from podium_storage.auth import hash_token, new_token


async def _two_projects(storage: Storage) -> None:
    await storage.put_project("alpha")
    await storage.put_project("beta")
    for user in ("ann", "bob", "cid"):
        await storage.create_user(user)


async def test_grants_put_replace_list_delete(storage: Storage) -> None:
    """A grant is one per (project, kind, name): put again replaces its role; lists sort by project, kind, name."""
    await _two_projects(storage)
    first = await storage.put_grant("alpha", "user", "ann", ProjectRole.viewer)
    again = await storage.put_grant("alpha", "user", "ann", ProjectRole.operator)
    assert again.role is ProjectRole.operator and again.created_at == first.created_at
    await storage.put_grant("alpha", "group", "team-a", ProjectRole.maintainer)
    await storage.put_grant("beta", "user", "bob", ProjectRole.viewer)
    assert [(g.project, g.kind, g.name, g.role) for g in await storage.list_grants()] == [
        ("alpha", "group", "team-a", ProjectRole.maintainer),
        ("alpha", "user", "ann", ProjectRole.operator),
        ("beta", "user", "bob", ProjectRole.viewer),
    ]
    assert [g.name for g in await storage.list_grants("beta")] == ["bob"]
    assert await storage.delete_grant("alpha", "user", "ann") is True
    assert await storage.delete_grant("alpha", "user", "ann") is False
    assert [g.name for g in await storage.list_grants("alpha")] == ["team-a"]


async def test_grant_on_unknown_project_refused(storage: Storage) -> None:
    """A grant needs its project to exist."""
    with pytest.raises(StorageError):
        await storage.put_grant("nowhere", "user", "ann", ProjectRole.viewer)


async def test_grants_of_takes_the_strongest_direct_or_through_groups(storage: Storage) -> None:
    """grants_of merges a user's own grants with their groups', the strongest role winning per project."""
    await _two_projects(storage)
    await storage.put_group("team-a", "Team A", ["ann", "bob"])
    await storage.put_group("leads", "", ["ann"])
    await storage.put_grant("alpha", "group", "team-a", ProjectRole.viewer)
    await storage.put_grant("alpha", "group", "leads", ProjectRole.maintainer)
    await storage.put_grant("beta", "user", "ann", ProjectRole.operator)
    await storage.put_grant("beta", "group", "team-a", ProjectRole.viewer)
    assert await storage.grants_of("ann") == {"alpha": ProjectRole.maintainer, "beta": ProjectRole.operator}
    assert await storage.grants_of("bob") == {"alpha": ProjectRole.viewer, "beta": ProjectRole.viewer}
    assert await storage.grants_of("cid") == {}
    assert await storage.grants_of("nobody") == {}


async def test_groups_put_replace_members_list_delete(storage: Storage) -> None:
    """put_group replaces the members (sorted, each once); deleting a group drops its grants."""
    await _two_projects(storage)
    group = await storage.put_group("team-a", "Team A", ["bob", "ann", "bob"])
    assert group.members == ["ann", "bob"] and group.display_name == "Team A"
    replaced = await storage.put_group("team-a", "A", ["cid"])
    assert replaced.members == ["cid"] and replaced.created_at == group.created_at
    assert await storage.get_group("team-a") == replaced
    await storage.put_group("empty")
    assert [(g.id, g.members) for g in await storage.list_groups()] == [("empty", []), ("team-a", ["cid"])]
    await storage.put_grant("alpha", "group", "team-a", ProjectRole.operator)
    assert await storage.grants_of("cid") == {"alpha": ProjectRole.operator}
    assert await storage.delete_group("team-a") is True
    assert await storage.delete_group("team-a") is False
    assert await storage.get_group("team-a") is None
    assert await storage.list_grants("alpha") == [] and await storage.grants_of("cid") == {}


async def test_group_with_unknown_member_refused(storage: Storage) -> None:
    """Members must be users: a group naming someone unknown is refused whole."""
    await storage.create_user("ann")
    with pytest.raises(StorageError):
        await storage.put_group("team", "", ["ann", "ghost"])
    assert await storage.get_group("team") is None


async def test_deleting_user_or_project_drops_their_grants(storage: Storage) -> None:
    """A deleted user loses grants and memberships (a new user of that id inherits nothing); so does a project."""
    await _two_projects(storage)
    await storage.put_group("team", "", ["ann", "bob"])
    await storage.put_grant("alpha", "user", "ann", ProjectRole.maintainer)
    await storage.put_grant("beta", "group", "team", ProjectRole.viewer)
    assert await storage.delete_user("ann") is True
    await storage.create_user("ann")
    assert await storage.grants_of("ann") == {}
    group = await storage.get_group("team")
    assert group is not None and group.members == ["bob"]
    assert await storage.delete_project("beta") is True
    assert await storage.grants_of("bob") == {}
    assert [g.project for g in await storage.list_grants()] == []


async def test_narrowed_token_keeps_its_projects_and_operations(storage: Storage) -> None:
    """A token's narrowing is stored and found with it; an unnarrowed token has None for both."""
    await storage.create_user("ci")
    token = new_token()
    narrowed = await storage.add_credential(
        "ci", "token", hash_token(token), "ci", projects=["beta", "alpha"], operations=[ProjectPermission.trigger]
    )
    assert narrowed.projects == ["alpha", "beta"] and narrowed.operations == [ProjectPermission.trigger]
    found = await storage.find_token(hash_token(token))
    assert found is not None and found[0] == narrowed
    plain = await storage.add_credential("ci", "token", hash_token(new_token()))
    assert plain.projects is None and plain.operations is None
    assert {c.id: c.projects for c in await storage.list_credentials("ci")} == {
        narrowed.id: ["alpha", "beta"],
        plain.id: None,
    }
