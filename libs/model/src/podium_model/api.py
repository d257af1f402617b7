"""Bodies used only by the HTTP API (not stored, not on the worker protocol)."""

from __future__ import annotations

from pydantic import Field

from podium_model._base import Model


class PasswordChange(Model):
    """Body of `POST /api/v1/me/password`: the current password and the new one."""

    password: str = Field(max_length=1000, description="The current password")
    new_password: str = Field(min_length=8, max_length=1000, description="The new password (8 characters or more)")


class PasswordSet(Model):
    """Body of `POST /api/v1/users/{user}/password` (administrators)."""

    password: str = Field(min_length=8, max_length=1000)
