"""Users, roles, credentials and login bodies (docs/access.md)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Literal

from pydantic import Field

from podium_model._base import Model, Slug, UtcDatetime
from podium_model.access import ProjectPermission

MAX_TOKEN_PROJECTS = 100
"""How many projects a token may be narrowed to."""


class Role(StrEnum):
    """Roles a user may hold; anonymous and default are implied, never stored."""

    administrator = "administrator"
    operator = "operator"
    viewer = "viewer"
    auditor = "auditor"
    worker = "worker"


def role_names(roles: Iterable[Role | str]) -> list[str]:
    """Roles as stored: each once, sorted by name.

    Raises:
        ValueError: a name is not a role.
    """
    return sorted({Role(role).value for role in roles})


class User(Model):
    """A user as stored and as answered by the API."""

    id: Slug
    display_name: str = ""
    roles: list[Role] = Field(default_factory=list)
    is_enabled: bool = True
    created_at: UtcDatetime
    updated_at: UtcDatetime


class UserCreate(Model):
    """Body of `POST /api/v1/users`."""

    id: Slug
    display_name: str = Field(default="", max_length=200)
    roles: list[Role] = Field(default_factory=list)
    password: str | None = Field(default=None, min_length=1, max_length=1000)


class UserUpdate(Model):
    """Changes to a user; only the fields set are written."""

    display_name: str | None = Field(default=None, max_length=200)
    roles: list[Role] | None = None
    is_enabled: bool | None = None


CredentialKind = Literal["password", "token"]


class Credential(Model):
    """A password or token of a user, without its secret."""

    id: str
    user: Slug
    kind: CredentialKind
    description: str = ""
    expires_at: UtcDatetime | None = None
    created_at: UtcDatetime
    projects: list[Slug] | None = Field(default=None, description="A token only: the projects it is narrowed to")
    operations: list[ProjectPermission] | None = Field(
        default=None, description="A token only: what it may do inside projects (null: all its user may)"
    )


class LoginRequest(Model):
    """Body of `POST /api/v1/me/login`."""

    user: str = Field(max_length=64)
    password: str = Field(max_length=1000)
    session: bool = Field(
        default=False,
        description="Also set the token as the web UI's session cookie (HttpOnly, SameSite=Strict)",
    )


class LoginResponse(Model):
    """Answer of a successful login: a bearer token and who it belongs to."""

    token: str
    expires_at: UtcDatetime | None
    user: User


class TokenCreate(Model):
    """Body of a token creation."""

    description: str = Field(default="", max_length=200)
    expires_in: int | None = Field(default=None, gt=0, description="Seconds until the token expires; null: never")
    projects: list[Slug] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_TOKEN_PROJECTS,
        description="Narrow the token to these projects (null: every project its user may see)",
    )
    operations: list[ProjectPermission] | None = Field(
        default=None,
        min_length=1,
        description="Narrow the token to these operations inside projects (null: all its user may); "
        "a narrowed token may call nothing outside projects but its own profile",
    )


class TokenCreated(Model):
    """A new token: the secret is shown once, here, and never again."""

    token: str
    credential: Credential
