"""Projects: the namespace of jobs, runs and schedules."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from podium_model._base import Model, Slug, UtcDatetime


class Project(Model):
    """A project as stored and as answered by the API."""

    id: Slug
    display_name: str = ""
    services: dict[str, Any] = Field(default_factory=dict)
    created_at: UtcDatetime
    updated_at: UtcDatetime
