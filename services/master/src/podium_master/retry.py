"""Retrying storage writes that must not be lost while the database is away."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from podium_master.metrics import MasterMetrics
from podium_storage.interface import StorageError

logger = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_FIRST = 0.1
RETRY_MAX = 5.0


async def until_stored(operation: Callable[[], Awaitable[T]], what: str, metrics: MasterMetrics) -> T:
    """Run a storage `operation` until the database takes it, with exponential backoff.

    Only `StorageError` is retried (the database is away or failed); anything else raises.
    """
    delay = RETRY_FIRST
    while True:
        try:
            return await operation()
        except StorageError as exc:
            metrics.storage_errors.inc()
            logger.warning("%s: database error, retrying in %.1fs: %s", what, delay, exc)
        await asyncio.sleep(delay)
        delay = min(delay * 2, RETRY_MAX)
