"""`/users`: user administration, roles, passwords and tokens (administrators; auditors read).

Every change is recorded in the audit log. A change that would leave no enabled administrator
(demoting, disabling or deleting the last one) is refused with 409 `last-administrator`; the
check reads the users then writes, so two administrators demoting each other at the same instant
could both pass it (the `podium-admin create-user` command recovers from that).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Response

from podium_api.deps import PasswordsDep, StorageDep, UserDep
from podium_api.errors import Conflict, NotFound
from podium_api.lookups import user_or_404
from podium_api.permissions import operation
from podium_api.routes.me import issue_token
from podium_model import Credential, User, UserCreate, UserUpdate
from podium_model.api import PasswordSet
from podium_model.users import Role, TokenCreate, TokenCreated

logger = logging.getLogger(__name__)

Responses = dict[int | str, dict[str, Any]]

router = APIRouter(prefix="/users", tags=["users"])

_NOT_FOUND: Responses = {404: {"description": "No such user"}}
_GUARDED: Responses = {**_NOT_FOUND, 409: {"description": "The change would leave no enabled administrator"}}


class LastAdministrator(Conflict):
    """The change would leave no enabled administrator."""

    slug, title = "last-administrator", "Last administrator"


def _is_active_administrator(user: User) -> bool:
    return user.is_enabled and Role.administrator in user.roles


async def _keep_an_administrator(storage: StorageDep, user: User, changes: UserUpdate | None) -> None:
    """Refuse `changes` (None: deleting `user`) when they leave no enabled administrator."""
    if not _is_active_administrator(user):
        return
    if changes is not None and changes.is_enabled is not False:
        if changes.roles is None or Role.administrator in changes.roles:
            return
    if not any(_is_active_administrator(other) for other in await storage.list_users() if other.id != user.id):
        raise LastAdministrator(f"user {user.id!r} is the last enabled administrator; make another one first")


@router.get("", response_model=list[User], **operation("listUsers", summary="List users"))
async def list_users(storage: StorageDep) -> list[User]:
    """Every user, by id."""
    return await storage.list_users()


@router.post(
    "",
    status_code=201,
    response_model=User,
    responses={409: {"description": "The id is taken"}},
    **operation("createUser", summary="Create a user"),
)
async def create_user(body: UserCreate, principal: UserDep, storage: StorageDep, passwords: PasswordsDep) -> User:
    """Create a user with roles and, optionally, a password."""
    if await storage.get_user(body.id) is not None:
        raise Conflict(f"user {body.id!r} exists already")
    user = await storage.create_user(body.id, body.display_name, body.roles)
    if body.password is not None:
        await storage.add_credential(user.id, "password", await passwords.hash(body.password))
    details = {"roles": [r.value for r in user.roles], "password": body.password is not None}
    await storage.record_audit(principal.id, "user.create", f"user/{user.id}", details)
    return user


@router.get("/{user}", response_model=User, responses=_NOT_FOUND, **operation("getUser", summary="Get a user"))
async def get_user(user: str, storage: StorageDep) -> User:
    """One user."""
    return await user_or_404(storage, user)


async def _update(storage: StorageDep, actor: str, action: str, user: str, changes: UserUpdate) -> User:
    before = await user_or_404(storage, user)
    await _keep_an_administrator(storage, before, changes)
    updated = await storage.update_user(user, changes)
    if updated is None:
        return await user_or_404(storage, user)
    fields = changes.model_dump(exclude_none=True, mode="json")
    details = {"before": before.model_dump(include=set(fields), mode="json"), "after": fields}
    await storage.record_audit(actor, action, f"user/{user}", details)
    return updated


@router.patch("/{user}", response_model=User, responses=_GUARDED, **operation("updateUser", summary="Update a user"))
async def update_user(user: str, body: UserUpdate, principal: UserDep, storage: StorageDep) -> User:
    """Change a user's display name, roles or enabled flag (only the fields given)."""
    return await _update(storage, principal.id, "user.update", user, body)


@router.post("/{user}/enable", response_model=User, responses=_NOT_FOUND, **operation("enableUser", summary="Enable"))
async def enable_user(user: str, principal: UserDep, storage: StorageDep) -> User:
    """Let the user log in and use their tokens again."""
    return await _update(storage, principal.id, "user.enable", user, UserUpdate(is_enabled=True))


@router.post("/{user}/disable", response_model=User, responses=_GUARDED, **operation("disableUser", summary="Disable"))
async def disable_user(user: str, principal: UserDep, storage: StorageDep) -> User:
    """Refuse the user's password and tokens from now on."""
    return await _update(storage, principal.id, "user.disable", user, UserUpdate(is_enabled=False))


@router.delete("/{user}", status_code=204, responses=_GUARDED, **operation("deleteUser", summary="Delete a user"))
async def delete_user(user: str, principal: UserDep, storage: StorageDep) -> Response:
    """Delete a user and their credentials."""
    if user == principal.id:
        raise Conflict("you cannot delete yourself")
    await _keep_an_administrator(storage, await user_or_404(storage, user), None)
    if not await storage.delete_user(user):
        raise NotFound(f"user {user!r} does not exist")
    await storage.record_audit(principal.id, "user.delete", f"user/{user}")
    return Response(status_code=204)


@router.post(
    "/{user}/password",
    status_code=204,
    responses=_NOT_FOUND,
    **operation("setUserPassword", summary="Reset a password"),
)
async def set_user_password(
    user: str, body: PasswordSet, principal: UserDep, storage: StorageDep, passwords: PasswordsDep
) -> Response:
    """Replace the user's password."""
    await user_or_404(storage, user)
    await storage.add_credential(user, "password", await passwords.hash(body.password))
    await storage.record_audit(principal.id, "user.password", f"user/{user}")
    return Response(status_code=204)


@router.get(
    "/{user}/tokens",
    response_model=list[Credential],
    responses=_NOT_FOUND,
    **operation("listUserTokens", summary="List a user's tokens"),
)
async def list_user_tokens(user: str, storage: StorageDep) -> list[Credential]:
    """The user's tokens, newest first, without secrets."""
    await user_or_404(storage, user)
    return await storage.list_credentials(user, "token")


@router.post(
    "/{user}/tokens",
    status_code=201,
    response_model=TokenCreated,
    responses=_NOT_FOUND,
    **operation("createUserToken", summary="Create a token for a user"),
)
async def create_user_token(user: str, body: TokenCreate, principal: UserDep, storage: StorageDep) -> TokenCreated:
    """Create a token for the user (a worker's, a scraper's); the secret is shown once."""
    await user_or_404(storage, user)
    return await issue_token(storage, principal.id, user, body)


@router.delete(
    "/{user}/tokens/{token_id}",
    status_code=204,
    responses=_NOT_FOUND,
    **operation("revokeUserToken", summary="Revoke a user's token"),
)
async def revoke_user_token(user: str, token_id: str, principal: UserDep, storage: StorageDep) -> Response:
    """Revoke one token of the user."""
    if not await storage.delete_credential(user, token_id):
        raise NotFound(f"token {token_id!r} of user {user!r} does not exist")
    await storage.record_audit(principal.id, "token.revoke", f"user/{user}", {"token": token_id})
    return Response(status_code=204)
