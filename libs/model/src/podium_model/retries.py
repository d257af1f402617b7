"""Retries: a command job's run that ends badly is followed by a new attempt (docs/jobs.md, Retries)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field, model_validator

from podium_model._base import Model

RETRY_ATTEMPTS = 10
"""The most attempts `retry.attempts` allows (the first run counts as attempt 1)."""

RETRY_DELAY_SECONDS = 86_400
"""The longest `retry.delay`, and the longest wait before any attempt once the backoff applies."""

RETRY_BACKOFF = 10.0
"""The largest `retry.backoff` factor."""

RetryOn = Literal["failed", "exception"]
"""The final statuses a retry may follow: the commands failed, or Podium could not run them."""


def _both() -> list[RetryOn]:
    return ["failed", "exception"]


class RetryPolicy(Model):
    """`definition.retry` of a command job: how many attempts, after which statuses, how long apart."""

    attempts: int = Field(
        ge=1, le=RETRY_ATTEMPTS, description="Attempts in all, the first run included (1: never retried)"
    )
    on: list[RetryOn] = Field(
        default_factory=_both,
        min_length=1,
        max_length=2,
        description="The final statuses that start another attempt",
    )
    delay: float = Field(default=0, ge=0, le=RETRY_DELAY_SECONDS, description="Seconds before the second attempt")
    backoff: float = Field(
        default=1, ge=1, le=RETRY_BACKOFF, description="Factor applied to the delay for each later attempt"
    )

    @model_validator(mode="before")
    @classmethod
    def _bare_on(cls, data: Any) -> Any:
        """YAML 1.1 reads a bare `on` key as true (`retry: {on: [failed]}`): it means `on`."""
        if isinstance(data, dict) and True in data and "on" not in data:
            return {("on" if key is True else key): value for key, value in data.items()}
        return data

    def follows(self, status: str, attempt: int) -> bool:
        """True when a run of attempt `attempt` ending in `status` is followed by another attempt."""
        return status in self.on and attempt < self.attempts

    def wait(self, attempt: int) -> float:
        """Seconds before attempt `attempt` (2 for the first retry): delay * backoff^(attempt - 2), capped."""
        return float(min(RETRY_DELAY_SECONDS, self.delay * self.backoff ** max(0, attempt - 2)))

    def not_before(self, attempt: int, ended_at: datetime) -> datetime | None:
        """When attempt `attempt` may start, for a previous attempt that ended at `ended_at`; None: at once."""
        wait = self.wait(attempt)
        return ended_at + timedelta(seconds=wait) if wait > 0 else None
