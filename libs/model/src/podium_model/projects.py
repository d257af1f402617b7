"""Projects: the namespace of jobs, runs and schedules."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from podium_model._base import Model, Slug, UtcDatetime
from podium_model.notifications import Notification


class Project(Model):
    """A project as stored and as answered by the API."""

    id: Slug
    display_name: str = ""
    services: dict[str, Any] = Field(default_factory=dict)
    notifications: list[Notification] = Field(
        default_factory=list, description="Webhooks out: where the ends of the project's runs are POSTed"
    )
    created_at: UtcDatetime
    updated_at: UtcDatetime
