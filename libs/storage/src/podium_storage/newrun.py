"""The fields of a new pending run, spelled once for both backends."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from podium_model import RunSource, RunStatus, new_id


def new_run_fields(
    project: str,
    job: str,
    parameters: dict[str, str],
    source: RunSource,
    run_id: str | None,
    now: datetime,
    secret_parameters: Sequence[str] = (),
    priority: int = 0,
    concurrency_key: str | None = None,
) -> dict[str, Any]:
    """Every field of a new pending run (id: a new UUIDv7 unless given), `source` as JSON.

    The SQL backend adds its `source_type` column; the MongoDB backend names the id `_id` and
    stores the JSON dicts its own way.
    """
    return {
        "id": run_id or new_id(),
        "project": project,
        "job": job,
        "parameters": dict(parameters),
        "secret_parameters": [key for key in secret_parameters if key in parameters],
        "source": source.model_dump(mode="json", exclude_none=True),
        "worker": None,
        "status": RunStatus.pending.value,
        "reason": None,
        "waiting_reason": None,
        "results": {},
        "should_cancel": False,
        "should_abort": False,
        "image": None,
        "image_digest": None,
        "priority": priority,
        "concurrency_key": concurrency_key,
        "created_at": now,
        "assigned_at": None,
        "started_at": None,
        "completed_at": None,
        "updated_at": now,
        "attempt": 1,
        "not_before": None,
        "retried_by": None,
        "retry": None,
    }
