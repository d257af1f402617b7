"""Retention: delete the final runs that completed long ago, and their logs, in small batches.

Only runs in a final status with a `completed_at` before the cut-off are candidates; pending
and running runs are never touched (`Storage.delete_runs` checks the status again, in the same
statement that deletes). The listing filters on `completed_before` alone and the status is
checked here: only final runs have a completion date, and nx-27017 (the MongoDB test server)
answers nothing to a status `$in` combined with a date range.

Each batch is one short query and one short delete, and the loop yields to the event loop
between batches, so a master can run `prune` next to dispatching. A batch deletes the logs
first, then the runs: an interrupted prune leaves at worst a run without its log, which the
next prune deletes.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from podium_model import RunFilter, utcnow
from podium_storage.interface import Storage, StorageError
from podium_storage.logs import LogStore

logger = logging.getLogger(__name__)


async def _prune_matching(
    storage: Storage, logs: LogStore | None, filter: RunFilter, batch: int, skip_projects: frozenset[str]
) -> int:
    """Delete the runs of `filter` (but those of `skip_projects`), one page of `batch` at a time."""
    deleted = 0
    cursor: str | None = None
    while True:
        page = await storage.list_runs(filter, limit=batch, cursor=cursor)
        doomed = [run for run in page.items if run.status.is_final and run.project not in skip_projects]
        if doomed:
            if logs is not None:
                for run in doomed:
                    try:
                        await logs.delete(run.project, run.id)
                    except (OSError, ValueError, StorageError) as exc:
                        logger.warning("cannot delete the log of run %s: %s", run.id, exc)
            deleted += await storage.delete_runs([run.id for run in doomed])
        if page.next_cursor is None:
            return deleted
        # Keyset paging continues below the last id seen, whatever was deleted above it.
        cursor = page.next_cursor
        await asyncio.sleep(0)


async def prune(
    storage: Storage,
    logs: LogStore | None,
    older_than: timedelta,
    per_project: dict[str, timedelta] | None = None,
    batch: int = 500,
) -> int:
    """Delete the final runs that completed more than `older_than` ago, with their logs.

    Args:
        storage: where the runs are.
        logs: where their logs are (None: leave the logs alone).
        older_than: how long a run is kept after it completed.
        per_project: a different age for some projects (longer or shorter than `older_than`).
        batch: runs listed and deleted per step.

    Returns:
        How many runs were deleted.

    Raises:
        ValueError: an age is negative or `batch` is not positive.
        StorageError: the database failed (what was deleted before stays deleted).
    """
    overrides = dict(per_project or {})
    if older_than < timedelta(0) or any(age < timedelta(0) for age in overrides.values()):
        raise ValueError("retention ages must not be negative")
    if batch < 1:
        raise ValueError("batch must be at least 1")
    now = utcnow()
    overridden = frozenset(overrides)
    deleted = await _prune_matching(storage, logs, RunFilter(completed_before=now - older_than), batch, overridden)
    for project, age in sorted(overrides.items()):
        filter = RunFilter(project=project, completed_before=now - age)
        deleted += await _prune_matching(storage, logs, filter, batch, frozenset())
    if deleted:
        logger.info("retention deleted %d runs", deleted)
    return deleted
