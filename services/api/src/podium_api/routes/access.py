"""`/projects/{project}/access` and `/groups`: who may do what in a project, and teams of users.

A project's grants are read by whoever may read the project and changed by its maintainers
(and administrators); groups are global: auditors read them, administrators change them.
Grants may name users and groups that do not exist yet, so that configuration can prepare a
project before its team logs in. Every change is an audit entry (`grant.put`, `grant.delete`,
`group.put`, `group.delete`); grants changed by applying configuration are in its
`configuration.apply` entry.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from podium_api.deps import StorageDep, UserDep
from podium_api.errors import InvalidInput, NotFound
from podium_api.lookups import project_or_404
from podium_api.permissions import operation
from podium_model._base import SLUG_PATTERN
from podium_model.access import Grant, GranteeKind, GrantUpdate, Group, GroupUpdate
from podium_storage.interface import StorageError

Responses = dict[int | str, dict[str, Any]]

router = APIRouter(tags=["access"])

_NOT_FOUND: Responses = {404: {"description": "No such project"}}
SlugPath = Annotated[str, Path(pattern=SLUG_PATTERN, max_length=64)]


@router.get(
    "/projects/{project}/access",
    response_model=list[Grant],
    responses=_NOT_FOUND,
    **operation("listProjectAccess", summary="List a project's grants"),
)
async def list_project_access(project: str, storage: StorageDep) -> list[Grant]:
    """The grants of a project, groups first, then users, by name."""
    await project_or_404(storage, project)
    return await storage.list_grants(project)


async def _grant(
    storage: StorageDep, principal: UserDep, project: str, kind: GranteeKind, name: str, body: GrantUpdate
) -> Grant:
    await project_or_404(storage, project)
    grant = await storage.put_grant(project, kind, name, body.role)
    await storage.record_audit(principal.id, "grant.put", f"project/{project}/{kind}/{name}", {"role": body.role})
    return grant


async def _revoke(storage: StorageDep, principal: UserDep, project: str, kind: GranteeKind, name: str) -> Response:
    await project_or_404(storage, project)
    if not await storage.delete_grant(project, kind, name):
        raise NotFound(f"{kind} {name!r} has no grant on project {project!r}")
    await storage.record_audit(principal.id, "grant.delete", f"project/{project}/{kind}/{name}")
    return Response(status_code=204)


@router.put(
    "/projects/{project}/access/users/{user}",
    response_model=Grant,
    responses=_NOT_FOUND,
    **operation("grantUser", summary="Grant a user a role on a project"),
)
async def grant_user(project: str, user: SlugPath, body: GrantUpdate, principal: UserDep, storage: StorageDep) -> Grant:
    """Give `user` the role `role` on the project (replacing the role granted before)."""
    return await _grant(storage, principal, project, "user", user, body)


@router.delete(
    "/projects/{project}/access/users/{user}",
    status_code=204,
    responses={404: {"description": "No such project or grant"}},
    **operation("revokeUser", summary="Revoke a user's grant on a project"),
)
async def revoke_user(project: str, user: SlugPath, principal: UserDep, storage: StorageDep) -> Response:
    """Remove the role granted to `user` on the project (their global roles stay)."""
    return await _revoke(storage, principal, project, "user", user)


@router.put(
    "/projects/{project}/access/groups/{group}",
    response_model=Grant,
    responses=_NOT_FOUND,
    **operation("grantGroup", summary="Grant a group a role on a project"),
)
async def grant_group(
    project: str, group: SlugPath, body: GrantUpdate, principal: UserDep, storage: StorageDep
) -> Grant:
    """Give every member of `group` the role `role` on the project."""
    return await _grant(storage, principal, project, "group", group, body)


@router.delete(
    "/projects/{project}/access/groups/{group}",
    status_code=204,
    responses={404: {"description": "No such project or grant"}},
    **operation("revokeGroup", summary="Revoke a group's grant on a project"),
)
async def revoke_group(project: str, group: SlugPath, principal: UserDep, storage: StorageDep) -> Response:
    """Remove the role granted to `group` on the project."""
    return await _revoke(storage, principal, project, "group", group)


@router.get("/groups", response_model=list[Group], **operation("listGroups", summary="List groups"))
async def list_groups(storage: StorageDep) -> list[Group]:
    """Every group with its members, by id."""
    return await storage.list_groups()


@router.get(
    "/groups/{group}",
    response_model=Group,
    responses={404: {"description": "No such group"}},
    **operation("getGroup", summary="Get a group"),
)
async def get_group(group: str, storage: StorageDep) -> Group:
    """One group with its members."""
    found = await storage.get_group(group)
    if found is None:
        raise NotFound(f"group {group!r} does not exist")
    return found


@router.put(
    "/groups/{group}",
    response_model=Group,
    responses={422: {"description": "A member is not a user"}},
    **operation("putGroup", summary="Create or replace a group"),
)
async def put_group(group: SlugPath, body: GroupUpdate, principal: UserDep, storage: StorageDep) -> Group:
    """Create the group, or replace its display name and members."""
    try:
        stored = await storage.put_group(group, body.display_name, body.members)
    except StorageError as exc:
        raise InvalidInput(str(exc)) from None
    await storage.record_audit(principal.id, "group.put", f"group/{group}", {"members": stored.members})
    return stored


@router.delete(
    "/groups/{group}",
    status_code=204,
    responses={404: {"description": "No such group"}},
    **operation("deleteGroup", summary="Delete a group"),
)
async def delete_group(group: str, principal: UserDep, storage: StorageDep) -> Response:
    """Delete the group and its grants (its members keep their own)."""
    if not await storage.delete_group(group):
        raise NotFound(f"group {group!r} does not exist")
    await storage.record_audit(principal.id, "group.delete", f"group/{group}")
    return Response(status_code=204)
