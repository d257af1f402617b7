"""The audit log: one entry per administrative change (users, roles, passwords, tokens,
configuration, secrets, grants, workers), readable at `GET /api/v1/audit`."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from podium_model._base import Model, UtcDatetime


class AuditEntry(Model):
    """One administrative change: who did what to which target, and when.

    `details` says what changed (roles before and after, the changes of a configuration) and
    never holds a secret: no password, token or secret value is ever recorded.
    """

    id: str = Field(description="UUIDv7: entries sort by id as by time")
    at: UtcDatetime
    actor: str = Field(max_length=64, description="The user who made the change (`podium-admin` for the command)")
    action: str = Field(max_length=64, description="What was done, e.g. `user.disable`, `token.revoke`")
    target: str = Field(max_length=300, description="What it was done to, e.g. `user/alice`, `worker/w1`")
    details: dict[str, Any] = Field(default_factory=dict)


class AuditFilter(Model):
    """Filters of the audit listing; all optional and combined with AND."""

    actor: str | None = None
    action: str | None = None
    target: str | None = None
