"""Workers: one per host, connected to the master."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from podium_model._base import Model, Slug, UtcDatetime


class WorkerBase(Model):
    """What a worker says of itself and the database keeps."""

    version: str = ""
    display_name: str = ""
    properties: dict[str, str] = Field(default_factory=dict)
    executor_limit: int = Field(default=1, ge=0, le=10_000)


class WorkerDescription(WorkerBase):
    """What a worker says of itself when the master asks (`describe`)."""

    containers: Literal["docker"] | None = Field(
        default=None,
        description="The container engine the worker runs jobs with an image in (`--containers`); None: none, "
        "jobs with an image never go to it. Known to the master while the worker is connected, not stored",
    )


class Worker(WorkerBase):
    """A worker as stored and as answered by the API."""

    id: Slug
    owner: str
    is_enabled: bool = True
    is_active: bool = False
    should_disconnect: bool = False
    last_seen: UtcDatetime | None = None
    master: str | None = Field(
        default=None,
        description="The id of the master that holds (or last held) the worker's connection (`--master-id`)",
    )
    created_at: UtcDatetime
    updated_at: UtcDatetime


class WorkerUpdate(Model):
    """Changes to a worker; only the fields set are written."""

    owner: str | None = None
    version: str | None = None
    display_name: str | None = None
    properties: dict[str, str] | None = None
    executor_limit: int | None = None
    is_enabled: bool | None = None
    is_active: bool | None = None
    should_disconnect: bool | None = None
    last_seen: UtcDatetime | None = None
    master: str | None = None
