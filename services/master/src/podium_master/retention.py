"""The master's retention task: delete old final runs and their logs, hourly, in small batches.

The policy is `--retention-days` (0 or unset: keep forever) with per-project overrides
(`--retention-project P=DAYS`, where 0 keeps that project's runs forever). The task runs
once at start and then every `retention_interval` seconds; `podium_storage.retention.prune`
deletes page by page and yields between pages, so dispatch never waits on it. A database
error only postpones the next pass.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from podium_master.settings import MasterSettings
from podium_storage.interface import Storage, StorageError
from podium_storage.logs import LogStore
from podium_storage.retention import prune

logger = logging.getLogger(__name__)

FOREVER = timedelta(days=36500)  # "keep forever" for prune, which needs an age
RETRY_AFTER_ERROR = 60.0


def policy(settings: MasterSettings) -> tuple[timedelta, dict[str, timedelta]] | None:
    """The ages given to `prune`, or None when nothing is ever deleted."""
    overrides = {
        project: timedelta(days=days) if days > 0 else FOREVER for project, days in settings.retention_projects.items()
    }
    default = timedelta(days=settings.retention_days) if settings.retention_days else FOREVER
    if default == FOREVER and all(age == FOREVER for age in overrides.values()):
        return None
    return default, overrides


async def prune_once(settings: MasterSettings, storage: Storage, logs: LogStore) -> int:
    """One retention pass; returns how many runs were deleted (0 when the policy keeps all)."""
    ages = policy(settings)
    if ages is None:
        return 0
    default, overrides = ages
    return await prune(storage, logs, default, overrides, batch=settings.retention_batch)


async def retain_forever(settings: MasterSettings, storage: Storage, logs: LogStore) -> None:
    """Prune at once, then every `retention_interval` seconds, until cancelled."""
    if policy(settings) is None:
        logger.info("retention: runs are kept forever")
        return
    while True:
        pause = settings.retention_interval
        try:
            deleted = await prune_once(settings, storage, logs)
            logger.info("retention pass done: %d runs deleted", deleted)
        except StorageError as exc:
            pause = min(pause, RETRY_AFTER_ERROR)
            logger.warning("retention pass failed (database error), retrying in %.0fs: %s", pause, exc)
        except Exception:
            logger.exception("retention pass failed; retrying at the next pass")
        await asyncio.sleep(pause)
