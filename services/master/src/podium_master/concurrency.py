"""Who holds each concurrency key now (docs/jobs.md, Concurrency), kept in memory by the master.

A run of a job with `definition.concurrency` stores its key when it is triggered. It holds the
key from the moment the dispatcher places it (a reservation, so that the runs placed in one
round see each other before their claims are committed) until it leaves `running`. `Lifecycle`
calls `observe` with every run it writes, so the holders follow every claim, end and requeue
without a read; a master that starts reads the running runs once (`rebuild`) before its first
dispatch of a limited run. Runs without a key cost one attribute test per change.
"""

from __future__ import annotations

from podium_model import Run, RunStatus
from podium_storage.interface import Storage

Key = tuple[str, str]
"""A key within its project: keys are per project, and shared by the jobs naming them."""


class Holders:
    """The runs holding each concurrency key: running ones, and those placed but not yet claimed."""

    def __init__(self) -> None:
        self._running: dict[Key, dict[str, Run]] = {}
        self._reserved: dict[Key, set[str]] = {}
        self._observed: set[str] | None = None
        """While `rebuild` reads: the runs observed meanwhile, whose observed state is newer."""
        self.ready = False
        """True once `rebuild` has read the running runs of storage."""

    def observe(self, run: Run) -> None:
        """Follow a run as just written: a running run holds its key, any other status releases it."""
        if run.concurrency_key is None:
            return
        if self._observed is not None:
            self._observed.add(run.id)
        key = (run.project, run.concurrency_key)
        if run.status == RunStatus.running:
            self._running.setdefault(key, {})[run.id] = run
            self._discard(self._reserved, key, run.id)
        elif key in self._running:
            self._discard(self._running, key, run.id)

    def reserve(self, run: Run) -> None:
        """Count a run placed by the dispatcher until its claim is written (or fails)."""
        assert run.concurrency_key is not None
        self._reserved.setdefault((run.project, run.concurrency_key), set()).add(run.id)

    def release(self, run: Run) -> None:
        """Drop the reservation of `run` (claimed, it holds the key as a running run now)."""
        if run.concurrency_key is not None:
            self._discard(self._reserved, (run.project, run.concurrency_key), run.id)

    def count(self, project: str, key: str) -> int:
        """How many runs hold the key: running, or placed and about to be claimed."""
        running = self._running.get((project, key), {})
        return len(running) + len(self._reserved.get((project, key), set()) - running.keys())

    def running(self, project: str, key: str) -> list[Run]:
        """The running holders of the key, oldest first."""
        return sorted(self._running.get((project, key), {}).values(), key=lambda run: run.id)

    async def rebuild(self, storage: Storage) -> None:
        """Read the running runs of storage: who held which key when the master stopped.

        A run written while the read is under way keeps its observed state (it is newer).

        Raises:
            StorageError: the read failed; `ready` stays False.
        """
        self._observed = set()
        try:
            active = await storage.list_active_runs()
        finally:
            observed, self._observed = self._observed, None
        for run in active:
            if run.concurrency_key is not None and run.id not in observed:
                self._running.setdefault((run.project, run.concurrency_key), {})[run.id] = run
        self.ready = True

    @staticmethod
    def _discard(table: dict[Key, dict[str, Run]] | dict[Key, set[str]], key: Key, run_id: str) -> None:
        held = table.get(key)
        if held is None:
            return
        if isinstance(held, dict):
            held.pop(run_id, None)
        else:
            held.discard(run_id)
        if not held:
            del table[key]
