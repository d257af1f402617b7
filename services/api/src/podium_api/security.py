"""Authentication: who sends a request, from its `Authorization` header.

Accepted: `Authorization: Bearer TOKEN`, or HTTP Basic `user:token` (the seed's convention).
A token is looked up by its SHA-256; an expired token or a disabled user is refused like an
unknown token, with a 401 problem.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass, field

from fastapi import Request

from podium_api.errors import Unauthorized
from podium_model import User, utcnow
from podium_model.users import Role
from podium_storage.auth import hash_token
from podium_storage.interface import Storage

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    """The caller of a request: a user and the credential used, or anonymous (`user` None)."""

    user: User | None = None
    credential_id: str | None = None
    roles: frozenset[Role] = field(default_factory=frozenset)

    @property
    def id(self) -> str:
        """The user id, or "anonymous"."""
        return self.user.id if self.user is not None else "anonymous"


ANONYMOUS = Principal()


def _parse(header: str) -> tuple[str | None, str]:
    """(user or None, token) from an Authorization header value.

    Raises:
        Unauthorized: the scheme is unknown or the value malformed.
    """
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return None, value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("malformed Basic credentials") from None
        user, colon, token = decoded.partition(":")
        if colon and user and token:
            return user, token
        raise Unauthorized("Basic credentials must be user:token")
    raise Unauthorized("use Authorization: Bearer TOKEN or Basic user:token")


async def resolve(storage: Storage, header: str | None) -> Principal:
    """The principal an Authorization header stands for (ANONYMOUS when absent).

    Raises:
        Unauthorized: the header is present but its credentials are not valid now.
    """
    if not header:
        return ANONYMOUS
    claimed_user, token = _parse(header)
    if len(token) > 1000:
        raise Unauthorized("invalid or expired token")
    found = await storage.find_token(hash_token(token))
    if found is None:
        raise Unauthorized("invalid or expired token")
    credential, user = found
    if claimed_user is not None and claimed_user != user.id:
        raise Unauthorized("invalid or expired token")
    if credential.expires_at is not None and credential.expires_at <= utcnow():
        raise Unauthorized("invalid or expired token")
    if not user.is_enabled:
        raise Unauthorized("invalid or expired token")
    return Principal(user=user, credential_id=credential.id, roles=frozenset(user.roles))


async def authenticate(request: Request) -> Principal:
    """The principal of `request`, resolved once per request and kept on `request.state`."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        principal = await resolve(request.state.storage, request.headers.get("authorization"))
        request.state.principal = principal
    return principal


async def require_user(request: Request) -> Principal:
    """The authenticated principal of `request`.

    Raises:
        Unauthorized: the request carries no credentials.
    """
    principal = await authenticate(request)
    if principal.user is None:
        raise Unauthorized("this operation needs credentials")
    return principal
