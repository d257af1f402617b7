"""Project secrets on the wire: names and dates only, except the body that sets a value.

A secret's value goes in (`SecretValue`, the body of `PUT .../secrets/{name}`) and never comes
back out of the API: listings answer `SecretInfo` (name, dates). The master hands the values of
a run's secrets to its worker in `RunRequest.secrets` only.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from podium_model._base import Model, UtcDatetime
from podium_model.limits import SECRET_VALUE_BYTES, SECRET_VALUE_MIN_BYTES

SECRET_NAME_PATTERN = r"^[A-Z_][A-Z0-9_]{0,63}$"

SecretName = Annotated[str, StringConstraints(pattern=SECRET_NAME_PATTERN, max_length=64)]
"""A secret's name: also the name of the environment variable a job's commands see it in."""


class SecretValue(Model):
    """Body of `PUT /api/v1/projects/{project}/secrets/{name}`."""

    value: str = Field(
        description=f"The value, {SECRET_VALUE_MIN_BYTES} to {SECRET_VALUE_BYTES} bytes of UTF-8; never answered back"
    )

    @field_validator("value")
    @classmethod
    def _size(cls, value: str) -> str:
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:  # a lone surrogate from JSON: no environment could hold it
            raise ValueError("a secret must be valid Unicode text") from None
        if size < SECRET_VALUE_MIN_BYTES:
            raise ValueError(
                f"a secret needs at least {SECRET_VALUE_MIN_BYTES} bytes (shorter ones cannot be masked safely)"
            )
        if size > SECRET_VALUE_BYTES:
            raise ValueError(f"a secret holds at most {SECRET_VALUE_BYTES} bytes")
        if "\x00" in value:
            raise ValueError("a secret cannot hold a NUL character (it could not be an environment variable)")
        return value


class SecretInfo(Model):
    """A secret as listed: its name and when it was last set, never its value."""

    name: SecretName
    created_at: UtcDatetime
    updated_at: UtcDatetime


class SecretList(Model):
    """Answer of `GET /api/v1/projects/{project}/secrets`: every secret of the project, by name."""

    items: list[SecretInfo]
