"""Errors as RFC 9457 problem documents, shared by the api and its clients."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

PROBLEM_BASE = "https://podium.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"


class Problem(BaseModel):
    """An `application/problem+json` body; extra members (such as `errors`) are allowed."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None

    @classmethod
    def of(cls, slug: str, title: str, status: int, detail: str | None = None, **extra: Any) -> Problem:
        """Build a problem whose type is the stable URI `PROBLEM_BASE + slug`."""
        return cls(type=PROBLEM_BASE + slug, title=title, status=status, detail=detail, **extra)
