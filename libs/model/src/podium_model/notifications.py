"""Webhooks out: a project's `notifications`, and the deliveries they make (docs/notifications.md).

A notification names a URL, the events it wants and optionally the jobs; when a run of the
project ends, each notification that wants one of its events gets a `Delivery`, written in the
same transaction as the run's final status (the outbox), then POSTed by the master's sender,
signed with the notification's secret, retried with backoff until it is answered 2xx or an
hour has passed. Deliveries of one run are sent one after another, in id order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from podium_model._base import Model, Slug, UtcDatetime
from podium_model.limits import (
    DELIVERY_ATTEMPTS_KEPT,
    NOTIFICATION_BODY_BYTES,
    NOTIFICATION_JOBS,
    NOTIFICATION_URL_CHARS,
    cut_parameters,
    json_size,
)
from podium_model.runs import Run
from podium_model.secrets import SecretName

NotificationEvent = Literal[
    "run.finished", "run.succeeded", "run.failed", "run.aborted", "run.exception", "run.cancelled"
]
"""`run.finished`: any end; `run.<status>`: an end in that final status."""

FINISHED: NotificationEvent = "run.finished"

DELIVERY_ID_CHARS = 39
"""A delivery's id: a run's (36 characters), a dot and two digits."""


class Notification(Model):
    """Where to POST the events of a project's runs, signed with a project secret."""

    url: str = Field(max_length=NOTIFICATION_URL_CHARS, description="An http:// or https:// URL")
    events: list[NotificationEvent] = Field(min_length=1, max_length=6)
    jobs: list[Slug] = Field(
        default_factory=list, max_length=NOTIFICATION_JOBS, description="Only runs of these jobs (empty: every job)"
    )
    secret: SecretName = Field(description="The project secret keying `X-Podium-Signature`")

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("a notification URL must be http:// or https:// with a host")
        return value

    @field_validator("events")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("an event is named twice")
        return value

    def events_for(self, run: Run) -> list[NotificationEvent]:
        """The events of this notification that `run`, in its final status, makes (in order)."""
        if not run.status.is_final or (self.jobs and run.job not in self.jobs):
            return []
        wanted = set(self.events)
        ended = cast(NotificationEvent, f"run.{run.status.value}")
        return [event for event in (ended, FINISHED) if event in wanted]


class DeliveryStatus(StrEnum):
    """Where a delivery stands."""

    pending = "pending"
    """Not answered 2xx yet: its next attempt is at `next_attempt_at`."""
    delivered = "delivered"
    """Answered 2xx."""
    failed = "failed"
    """Given up: an hour of attempts without a 2xx."""


class DeliveryAttempt(Model):
    """One POST of a delivery."""

    attempt: int = Field(ge=1, description="1 for the first POST")
    at: UtcDatetime
    status_code: int | None = Field(default=None, description="The HTTP status answered; None when none was")
    error: str | None = Field(default=None, description="Why it failed: the answer's status, a timeout, ...")
    duration_ms: int = Field(default=0, ge=0)


class Delivery(Model):
    """One event of one run for one notification: the unit of sending, and its attempts."""

    id: str = Field(description="`<run id>.<n>`: sorts by run, then in the order the run's events are sent")
    project: Slug
    run: str
    job: Slug
    event: NotificationEvent
    url: str
    secret: str
    status: DeliveryStatus = DeliveryStatus.pending
    attempts: list[DeliveryAttempt] = Field(
        default_factory=list, description=f"The attempts made, oldest first (the last {DELIVERY_ATTEMPTS_KEPT})"
    )
    attempt_count: int = Field(default=0, ge=0, description="Every attempt made, including those no longer listed")
    next_attempt_at: UtcDatetime | None = Field(default=None, description="Pending only: when it is tried next")
    created_at: UtcDatetime
    updated_at: UtcDatetime


class DeliveryRecord(Delivery):
    """A delivery with the body it POSTs: storage and the sender only (listings leave it out)."""

    body: str


def delivery_id(run_id: str, index: int) -> str:
    """The id of a run's `index`-th delivery: the same on every retry of a write (idempotent)."""
    return f"{run_id}.{index:02d}"


def event_body(delivery: str, event: str, run: Run) -> str:
    """The JSON a delivery POSTs: `{id, event, project, job, run}`, at most `NOTIFICATION_BODY_BYTES`.

    The run is shown as a page of runs shows it (parameter values cut at 1 KiB); its results
    are left out, and `results_omitted` set, when they would make the body too large.
    """
    parameters, cut = cut_parameters(run.parameters)
    shown: dict[str, Any] = run.model_dump(mode="json")
    shown["parameters"] = parameters
    shown["truncated_parameters"] = cut or None
    document: dict[str, Any] = {"id": delivery, "event": event, "project": run.project, "job": run.job, "run": shown}
    if json_size(document) > NOTIFICATION_BODY_BYTES:
        shown["results"] = {}
        document["results_omitted"] = True
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def deliveries_for(run: Run, notifications: Sequence[Notification], now: datetime) -> list[DeliveryRecord]:
    """The deliveries a run that just ended makes, in the order they are sent."""
    records: list[DeliveryRecord] = []
    for notification in notifications:
        for event in notification.events_for(run):
            identifier = delivery_id(run.id, len(records))
            records.append(
                DeliveryRecord(
                    id=identifier,
                    project=run.project,
                    run=run.id,
                    job=run.job,
                    event=event,
                    url=notification.url,
                    secret=notification.secret,
                    next_attempt_at=now,
                    created_at=now,
                    updated_at=now,
                    body=event_body(identifier, event, run),
                )
            )
    return records


class DeliveryFilter(Model):
    """Filters of `GET /api/v1/projects/{project}/deliveries`."""

    run: str | None = None
    status: DeliveryStatus | None = None
