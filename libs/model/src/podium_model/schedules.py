"""Cron schedules that trigger runs."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from podium_model._base import Model, Slug, UtcDatetime


def check_expression(expression: str) -> None:
    """Raise ValueError unless `expression` is a valid 5-field cron expression.

    The one rule for apply (configuration) and the master (firing), so a schedule that
    applies is a schedule that fires. croniter is imported here, not at module level: the
    executor imports the model package on every run and never reads a schedule.
    """
    from croniter import croniter

    if len(expression.split()) != 5 or not croniter.is_valid(expression):
        raise ValueError(f"{expression!r} is not a 5-field cron expression (minute hour day month weekday)")


def next_fire(expression: str, after: datetime) -> datetime:
    """The first tick of `expression` (UTC) strictly after `after`: what the master fires next.

    Raises:
        ValueError: the expression is not one `check_expression` accepts.
    """
    check_expression(expression)
    from croniter import croniter

    tick: datetime = croniter(expression, after).get_next(datetime)
    return tick


class ScheduleBase(Model):
    """What configuration says of a schedule."""

    id: Slug
    display_name: str = Field(default="", max_length=200)
    job: Slug
    parameters: dict[str, str] = Field(default_factory=dict)
    expression: str = Field(description="Standard 5-field cron expression, evaluated in UTC", max_length=200)
    is_enabled: bool = True


class Schedule(ScheduleBase):
    """A schedule as stored and as answered by the API."""

    project: Slug
    last_run: str | None = None
    last_fired_at: UtcDatetime | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    next_fire_at: UtcDatetime | None = Field(
        default=None,
        description="In answers only: when the master fires the schedule next (UTC); null when it is disabled",
    )
