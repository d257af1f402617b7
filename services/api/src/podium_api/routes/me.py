"""`/me`: login, logout, the caller's profile, password and tokens."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response

from podium_api.deps import AccessDep, PasswordsDep, SettingsDep, StorageDep, ThrottleDep, UserDep
from podium_api.errors import Forbidden, InvalidInput, NotFound, TooManyRequests, Unauthorized
from podium_api.passwords import PasswordPool
from podium_api.permissions import operation
from podium_api.security import SESSION_COOKIE, Principal
from podium_model import Credential, LoginRequest, LoginResponse, User, utcnow
from podium_model.access import MyAccess
from podium_model.api import PasswordChange
from podium_model.users import TokenCreate, TokenCreated
from podium_storage.auth import hash_token, new_token

logger = logging.getLogger(__name__)

Responses = dict[int | str, dict[str, Any]]

router = APIRouter(prefix="/me", tags=["me"])

_MAX_EXPIRES_IN = 100 * 366 * 24 * 3600
_UNAUTHORIZED: Responses = {401: {"description": "Missing or invalid credentials"}}


async def _check_password(storage: StorageDep, passwords: PasswordPool, user_id: str, password: str) -> User | None:
    """The user if `password` is theirs; the same work is done for unknown users."""
    user = await storage.get_user(user_id)
    password_hash = await storage.get_password_hash(user_id) if user is not None else None
    ok = await passwords.verify(password, password_hash)
    if not ok or user is None or not user.is_enabled:
        return None
    return user


@router.post(
    "/login",
    response_model=LoginResponse,
    responses={**_UNAUTHORIZED, 429: {"description": "Too many failed logins: retry after `Retry-After` seconds"}},
    **operation("login", summary="Log in"),
)
async def login(
    request: Request,
    response: Response,
    body: LoginRequest,
    storage: StorageDep,
    settings: SettingsDep,
    passwords: PasswordsDep,
    throttle: ThrottleDep,
) -> LoginResponse:
    """Exchange a user id and password for a bearer token (same 401 for unknown user and wrong password).

    After repeated failures for the same user id or from the same address, logins wait an
    exponentially growing delay: meanwhile they answer 429 with `Retry-After`, unchecked.

    With `"session": true` the token is also set as the web UI's session cookie, so that a new
    tab or a shared link of the same browser is logged in (see `podium_api.security`).
    """
    address = request.client.host if request.client is not None else ""
    wait = throttle.retry_after(body.user, address)
    if wait is not None:
        raise TooManyRequests(f"too many failed logins; retry in {wait} s", retry_after=wait)
    user = await _check_password(storage, passwords, body.user, body.password)
    if user is None:
        throttle.failed(body.user, address)
        logger.info("login refused for %r from %s", body.user[:64], address)
        raise Unauthorized("unknown user or wrong password")
    throttle.succeeded(user.id)
    token = new_token()
    expires_at = utcnow() + settings.token_lifetime
    await storage.add_credential(user.id, "token", hash_token(token), description="login", expires_at=expires_at)
    logger.info("user %s logged in", user.id)
    if body.session:
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=int(settings.token_lifetime.total_seconds()),
            path="/api/",
            secure=_is_https(request),
            httponly=True,
            samesite="strict",
        )
    return LoginResponse(token=token, expires_at=expires_at, user=user)


@router.get("", response_model=User, responses=_UNAUTHORIZED, **operation("getMe", summary="My profile"))
async def get_me(principal: UserDep) -> User:
    """The user the credentials belong to."""
    assert principal.user is not None
    return principal.user


@router.get(
    "/access", response_model=MyAccess, responses=_UNAUTHORIZED, **operation("getMyAccess", summary="What I may do")
)
async def get_my_access(access: AccessDep, storage: StorageDep) -> MyAccess:
    """My global permissions, and every project I may see with what I may do in it (for a UI)."""
    held = {project.id: access.on(project.id) for project in await storage.list_projects()}
    projects = {name: sorted(permissions) for name, permissions in held.items() if permissions}
    return MyAccess(permissions=sorted(access.permissions - {"public"}), projects=projects)


@router.post("/logout", status_code=204, responses=_UNAUTHORIZED, **operation("logout", summary="Log out"))
async def logout(principal: UserDep, storage: StorageDep) -> Response:
    """Revoke the token this request was made with (and clear the session cookie)."""
    if principal.credential_id is not None:
        await storage.delete_credential(principal.id, principal.credential_id)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/api/", httponly=True, samesite="strict")
    return response


def _is_https(request: Request) -> bool:
    """Whether the browser reached us over https (directly, or through podium-web's proxy)."""
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


@router.post(
    "/password", status_code=204, responses=_UNAUTHORIZED, **operation("changeMyPassword", summary="Change my password")
)
async def change_my_password(
    body: PasswordChange, principal: UserDep, storage: StorageDep, passwords: PasswordsDep
) -> Response:
    """Replace my password, given the current one."""
    if await _check_password(storage, passwords, principal.id, body.password) is None:
        raise Unauthorized("the current password is wrong")
    await storage.add_credential(principal.id, "password", await passwords.hash(body.new_password))
    await storage.record_audit(principal.id, "user.password", f"user/{principal.id}")
    return Response(status_code=204)


@router.get(
    "/tokens",
    response_model=list[Credential],
    responses=_UNAUTHORIZED,
    **operation("listMyTokens", summary="My tokens"),
)
async def list_my_tokens(principal: UserDep, storage: StorageDep) -> list[Credential]:
    """My tokens, newest first, without their secrets."""
    return await storage.list_credentials(principal.id, "token")


@router.post(
    "/tokens",
    status_code=201,
    response_model=TokenCreated,
    responses=_UNAUTHORIZED,
    **operation("createMyToken", summary="Create a token"),
)
async def create_my_token(body: TokenCreate, principal: UserDep, storage: StorageDep) -> TokenCreated:
    """Create a token for me; its secret is shown in this answer only.

    A narrowed token creates only tokens as narrow as itself, or narrower: it inherits what the
    body leaves out, and asking for a project or an operation beyond it is refused (403).
    """
    return await issue_token(storage, principal.id, principal.id, _within(body, principal))


def _within(body: TokenCreate, principal: Principal) -> TokenCreate:
    """`body` cut to the narrowing of the token making the request."""
    projects, operations = body.projects, body.operations
    if principal.token_projects is not None:
        if projects is not None and not set(projects) <= principal.token_projects:
            raise Forbidden("a narrowed token may not create a token for projects beyond its own")
        projects = projects if projects is not None else sorted(principal.token_projects)
    if principal.token_operations is not None:
        if operations is not None and not set(operations) <= principal.token_operations:
            raise Forbidden("a narrowed token may not create a token for operations beyond its own")
        operations = operations if operations is not None else sorted(principal.token_operations)
    return body.model_copy(update={"projects": projects, "operations": operations})


@router.delete(
    "/tokens/{token_id}",
    status_code=204,
    responses={**_UNAUTHORIZED, 404: {"description": "No such token"}},
    **operation("revokeMyToken", summary="Revoke a token"),
)
async def revoke_my_token(token_id: str, principal: UserDep, storage: StorageDep) -> Response:
    """Revoke one of my tokens."""
    if not await storage.delete_credential(principal.id, token_id):
        raise NotFound(f"token {token_id!r} does not exist")
    await storage.record_audit(principal.id, "token.revoke", f"user/{principal.id}", {"token": token_id})
    return Response(status_code=204)


async def issue_token(storage: StorageDep, actor: str, user_id: str, body: TokenCreate) -> TokenCreated:
    """Create a token for `user_id` as `body` asks (audited as `actor`'s); return it with its secret."""
    if body.expires_in is not None and body.expires_in > _MAX_EXPIRES_IN:
        raise InvalidInput(f"expires_in may not exceed {_MAX_EXPIRES_IN} seconds")
    token = new_token()
    expires_at = utcnow() + timedelta(seconds=body.expires_in) if body.expires_in is not None else None
    credential = await storage.add_credential(
        user_id,
        "token",
        hash_token(token),
        description=body.description,
        expires_at=expires_at,
        projects=body.projects,
        operations=body.operations,
    )
    expiry = credential.expires_at.isoformat() if credential.expires_at is not None else None
    details: dict[str, object] = {"token": credential.id, "description": body.description, "expires_at": expiry}
    if credential.projects is not None or credential.operations is not None:
        details.update(projects=credential.projects, operations=credential.operations)
    await storage.record_audit(actor, "token.create", f"user/{user_id}", details)
    return TokenCreated(token=token, credential=credential)
