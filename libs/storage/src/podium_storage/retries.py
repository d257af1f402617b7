"""The attempt that follows a run ended in a status its retry policy names, spelled once for both backends.

A backend calls `follow_up` with a run it has just moved to a final status, inside the write
that moved it: SQL inserts the follow-up in the same transaction, MongoDB records its id on the
ended run in the same single-document update (and inserts it right after, or at the next start
of the master: `Storage.resume_retries`). Either way a retry is created once, never lost.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podium_model import Run, RunSource
from podium_storage.newrun import new_run_fields


def follow_up(run: Run, now: datetime, run_id: str | None = None) -> dict[str, Any] | None:
    """The fields of the attempt that follows `run`, or None when it is not retried.

    `run` holds its new final status and `completed_at`. `run_id` names the follow-up (MongoDB
    recreates one it recorded already); else it gets a new id.
    """
    policy = run.retry
    recorded = run.retried_by is not None and run_id is None  # followed already: a replay
    if policy is None or recorded or not policy.follows(run.status, run.attempt):
        return None
    attempt = run.attempt + 1
    source = RunSource(type="retry", run=run.id, user=run.source.user)
    fields = new_run_fields(
        run.project, run.job, run.parameters, source, run_id, now, run.secret_parameters, run.priority,
        run.concurrency_key,
    )  # fmt: skip
    not_before = policy.not_before(attempt, run.completed_at or now)
    fields["attempt"] = attempt
    fields["not_before"] = not_before
    if not_before is not None:
        fields["waiting_reason"] = f"attempt {attempt} of {policy.attempts}: waits its retry delay"
    return fields
