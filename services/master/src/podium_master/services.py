"""What a worker session uses of the master (`SessionServices`), one for all its sessions.

Apart from `session.py` so that `reconcile.py`, which reads it from the session, needs no
import of the session itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from podium_master.events import EventHub
from podium_master.lifecycle import Lifecycle
from podium_master.logspace import LogSpace
from podium_master.metrics import MasterMetrics
from podium_master.poison import Bounces
from podium_master.settings import MasterSettings
from podium_storage.artifacts import ArtifactStore
from podium_storage.interface import Storage
from podium_storage.logs import LogStore


@dataclass(frozen=True)
class SessionServices:
    """What a worker session uses of the master; one for all its sessions."""

    settings: MasterSettings
    storage: Storage
    logs: LogStore
    lifecycle: Lifecycle
    events: EventHub
    metrics: MasterMetrics
    bounces: Bounces
    """Where a run this worker lost goes back to pending (held back, or ended when it keeps bouncing)."""
    log_space: LogSpace
    """Whether the log store takes bytes (a full disk pauses the runs' logs)."""
    sessions: Mapping[str, object]
    """The current connection of each worker (a replaced one is no longer there)."""
    artifacts: ArtifactStore
    """The runs' artifacts, beside their logs."""
    wake: Callable[[], None]
    """Tell the dispatcher something may be runnable (a worker ready, a slot freed)."""
    heard: Callable[[str], None]
    """Note that a worker was heard from (its `last_seen` is written in batches)."""
