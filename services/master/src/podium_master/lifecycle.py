"""The one place where runs change (docs/concepts.md, Run lifecycle): compare-and-set, then publish.

Every status change of a run, and every other change worth showing (`started_at`,
`waiting_reason`...), goes through `Lifecycle`: it writes storage (through a `GroupCommit`,
so changes that arrive together share one transaction) and, when the run moved, publishes
the new run on the master's `EventHub`. Subscribers (the api's `/control/events`,
the pipeline engine) therefore see each change exactly once, in order.

Webhooks out: a move to a final status carries the projects' notifications, so storage writes
the run's deliveries in the same transaction (the outbox), and the sender is woken.

Log attempts: a run's log in the log store belongs to its current attempt. When a run goes
back to pending (its worker lost it) and when it is claimed again (pending → running), its
stored log is deleted, so a new attempt always starts at offset 0.

Retries (docs/jobs.md, Retries): storage creates a retried run's next attempt with its final
status (`Storage.write_runs`); the lifecycle publishes that new run and tells `retry_due` when
it may start, so the dispatcher wakes then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any

from podium_master.concurrency import Holders
from podium_master.deliveries import Notifications
from podium_master.events import EventHub
from podium_master.metrics import MasterMetrics
from podium_model import Job, Run, RunSource, RunStatus, RunUpdate, Worker, WorkerUpdate, concurrency_key, utcnow
from podium_model.retries import RetryPolicy
from podium_storage.batches import GroupCommit
from podium_storage.interface import RunWrite, Storage, StorageError
from podium_storage.logs import LogStore

logger = logging.getLogger(__name__)

PENDING = (RunStatus.pending,)
RUNNING = (RunStatus.running,)


class Lifecycle:
    """Run and worker changes: storage writes followed by events."""

    def __init__(
        self,
        storage: Storage,
        logs: LogStore,
        events: EventHub,
        metrics: MasterMetrics | None = None,
        notifications: Notifications | None = None,
    ) -> None:
        self.storage = storage
        self.logs = logs
        self.events = events
        self.metrics = metrics or MasterMetrics()
        self.notifications = notifications or Notifications()
        self.deliveries_stored: Callable[[], None] = lambda: None
        """Called after a run's end stored deliveries (the master wakes its sender)."""
        self.writes: GroupCommit[RunWrite, Run | None] = GroupCommit(storage.write_runs)
        self.holders = Holders()
        """Who holds each concurrency key: every run written here is shown to it."""
        self.retry_due: Callable[[datetime | None], None] = lambda when: None
        """Called with a new retry's not-before time (None: due now); the master wires the dispatcher's timer."""

    def _measure(self, run: Run) -> None:
        if run.status == RunStatus.running:
            self.metrics.run_started(run)
        elif run.status.is_final:
            self.metrics.run_finished(run)

    async def transition(
        self, run_id: str, expected: Collection[RunStatus], to: RunStatus, changes: RunUpdate | None = None
    ) -> Run | None:
        """Move a run to `to` only from a status in `expected`; publish it when it moved.

        Returns:
            The updated run, or None when the run is unknown or was in another status.
        """
        if to.is_final and (changes is None or changes.completed_at is None):
            changes = (changes or RunUpdate()).model_copy(update={"completed_at": utcnow()})
        # The outbox of webhooks out: storage writes the deliveries with the final status.
        notifications = self.notifications.by_project if to.is_final else None
        run = await self.writes.submit(RunWrite(run_id, changes, to, tuple(expected), notifications or None))
        if run is not None:
            if notifications and run.project in notifications:
                self.deliveries_stored()
            logger.debug("run %s: %s", run_id, to, extra={"run_id": run_id})
            self.holders.observe(run)
            self._measure(run)
            self.events.run_changed(run)
            if run.retried_by is not None and to.is_final:  # this write created the next attempt
                await self._retried(run)
        return run

    async def _retried(self, run: Run) -> None:
        """Publish the attempt that storage created to follow `run`, and say when it is due."""
        assert run.retry is not None and run.retried_by is not None
        logger.info(
            "run %s %s: attempt %d follows as run %s",
            run.id,
            run.status,
            run.attempt + 1,
            run.retried_by,
            extra={"run_id": run.id},
        )
        self.retry_due(run.retry.not_before(run.attempt + 1, run.completed_at or utcnow()))
        try:
            follow = await self.storage.get_run(run.retried_by)
        except StorageError as exc:  # it is stored: the dispatcher finds it; only this event is missed
            logger.warning("run %s: its retry %s is stored but not published: %s", run.id, run.retried_by, exc)
            return
        if follow is not None:
            self.events.run_changed(follow)

    async def create(
        self,
        project: str,
        job: Job | str,
        parameters: dict[str, Any],
        source: RunSource,
        run_id: str | None = None,
        secret_parameters: Sequence[str] = (),
        priority: int | None = None,
    ) -> Run:
        """Store a new pending run and publish it (schedules and pipelines start runs here).

        Given the `Job` (not only its id), the run takes the job's priority (unless `priority`
        is given) and its concurrency key, rendered with `parameters` now.

        Raises:
            AlreadyExists: `run_id` is taken (a replayed start).
        """
        key: str | None = None
        if isinstance(job, Job):
            key = concurrency_key(job, parameters)
            priority = job.priority if priority is None else priority
            job = job.id
        run = await self.storage.create_run(
            project, job, parameters, source, run_id, secret_parameters, priority=priority or 0, concurrency_key=key
        )
        self.events.run_changed(run)
        return run

    async def update(self, run_id: str, changes: RunUpdate) -> Run | None:
        """Write fields other than the status and publish the run."""
        run = await self.writes.submit(RunWrite(run_id, changes))
        if run is not None:
            self.holders.observe(run)
            self.events.run_changed(run)
        return run

    async def update_running(self, run_id: str, changes: RunUpdate) -> Run | None:
        """Write fields of a run only while it is running (a compare-and-set running → running),
        and publish it: a late write never lands on a run that ended or went back to pending."""
        run = await self.writes.submit(RunWrite(run_id, changes, RunStatus.running, RUNNING))
        if run is not None:
            self.holders.observe(run)
            self.events.run_changed(run)
        return run

    async def claim(
        self, run_id: str, worker: str, retry: RetryPolicy | None = None, *, replace_retry: bool = False
    ) -> Run | None:
        """pending → running on `worker`; a new attempt's log starts empty.

        `retry`, the job's retry policy, is written on the run when given (with `replace_retry`
        also when None, to drop a policy the run held): the final status then decides the
        retry in storage, with no read of the job. A claim of a job without one writes nothing more.
        """
        changes = RunUpdate(worker=worker, assigned_at=utcnow(), waiting_reason=None)
        if retry is not None or replace_retry:
            changes.retry = retry
        run = await self.writes.submit(RunWrite(run_id, changes, RunStatus.running, PENDING))
        if run is None:
            return None
        # Nothing can append between the claim and the deletion: the directory store's delete
        # never suspends, and no session holds the run before its execute is sent (the database
        # store's delete does suspend). A requeue emptied the log already and said so; a log
        # left over anyway is announced as gone.
        emptied = await self.logs.delete(run.project, run.id)
        self.holders.observe(run)
        self._measure(run)
        self.events.run_changed(run)
        if emptied:
            self.events.log_grew(run.project, run.id, 0)
        return run

    async def requeue(self, run_id: str, waiting_reason: str) -> Run | None:
        """running → pending (the worker lost or refused it); its partial log is dropped."""
        changes = RunUpdate(worker=None, assigned_at=None, started_at=None, waiting_reason=waiting_reason, steps=[])
        run = await self.writes.submit(RunWrite(run_id, changes, RunStatus.pending, RUNNING))
        if run is None:
            return None
        self.holders.observe(run)
        await self.logs.delete(run.project, run.id)
        self.events.run_changed(run)
        self.events.log_grew(run.project, run.id, 0)
        return run

    async def update_worker(self, worker_id: str, changes: WorkerUpdate) -> Worker | None:
        """Write a worker's fields and publish it."""
        worker = await self.storage.update_worker(worker_id, changes)
        if worker is not None:
            self.events.worker_changed(worker)
        return worker

    async def release_worker(self, worker_id: str, master: str) -> Worker | None:
        """Mark a worker inactive unless another master holds it now, and publish it."""
        worker = await self.storage.release_worker(worker_id, master)
        if worker is not None:
            self.events.worker_changed(worker)
        return worker

    async def put_worker(self, worker_id: str, owner: str, changes: WorkerUpdate) -> Worker:
        """Create or update a worker and publish it."""
        worker = await self.storage.put_worker(worker_id, owner, changes)
        self.events.worker_changed(worker)
        return worker
