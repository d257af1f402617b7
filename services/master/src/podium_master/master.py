"""The master: builds its parts, gives each what it uses, and serves the control calls.

This is the one module that knows every part. The parts take what they use (the storage,
the lifecycle, the event hub, the live sessions, a `wake` callable), never the `Master`, so
each can be built and tested alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from podium_master.deliveries import Notifications, Sender
from podium_master.dispatcher import Dispatcher
from podium_master.events import EventHub
from podium_master.leader import Leader
from podium_master.lifecycle import PENDING, Lifecycle
from podium_master.logspace import LogSpace
from podium_master.lost import LostWorkers, seen_within
from podium_master.metrics import MasterMetrics
from podium_master.pipelines import PipelineRunner
from podium_master.poison import Bounces
from podium_master.retention import retain_forever
from podium_master.retry import until_stored
from podium_master.schedules import Clock, Scheduler
from podium_master.secrets import RunSecrets
from podium_master.selector import load_selector
from podium_master.services import SessionServices
from podium_master.session import WorkerSession
from podium_master.settings import MasterSettings
from podium_model import RunStatus, RunUpdate, WorkerUpdate, utcnow
from podium_model.control import ControlAnswer, ControlResult
from podium_model.messages import CLOSE_DISCONNECT_REQUESTED, CLOSE_REPLACED
from podium_storage.artifacts import ArtifactStore
from podium_storage.interface import Storage, StorageError
from podium_storage.logs import LogStore
from podium_storage.secretfiles import secrets_keys

logger = logging.getLogger(__name__)

SHARED_SCHEDULES_REREAD = 10.0
"""Seconds between the leader's reads of the schedules when several masters may serve the database
(PostgreSQL, MongoDB)."""
SHARED_DELIVERIES_REREAD = 10.0
"""Seconds between the sender's reads of the pending deliveries when several masters may serve the
database: another master's runs store deliveries this one is not told of, and a master that died
mid-send leaves its delivery to whoever reads it once its lease ended."""


class Master:
    """Supervises the worker connections and owns the dispatcher."""

    def __init__(self, settings: MasterSettings, storage: Storage, logs: LogStore, clock: Clock | None = None) -> None:
        self.settings = settings
        self.storage = storage
        self.logs = logs
        self.sessions: dict[str, WorkerSession] = {}
        self.events = EventHub()
        self.metrics = MasterMetrics(settings.master_id)
        self.notifications = Notifications()
        self.lifecycle = Lifecycle(storage, logs, self.events, self.metrics, self.notifications)
        key = settings.secrets_key.get_secret_value() if settings.secrets_key is not None else ""
        self.secrets = RunSecrets(storage, secrets_keys(key))
        leadership = storage.leadership()
        shared = leadership.shared  # several masters may serve the database
        self.sender = Sender(settings, storage, secrets_keys(key), SHARED_DELIVERIES_REREAD if shared else None)
        self.lifecycle.deliveries_stored = self.sender.wake
        self.log_space = LogSpace(self.metrics)
        self.bounces = Bounces(settings, self.lifecycle, self.metrics, self.wake)
        self.pipeline_runner = PipelineRunner(
            storage, self.lifecycle, self.events, self.wake, self.abort, settings.sweep_interval, self.metrics
        )
        self.dispatcher = Dispatcher(
            settings,
            storage,
            self.lifecycle,
            self.sessions,
            self.pipeline_runner,
            load_selector(settings.selector),
            self.metrics,
            self.bounces,
            self.secrets,
        )
        self.lifecycle.retry_due = self.dispatcher.wake_at
        self.master_id = settings.master_id
        """This master's id among the masters of its database (recorded on the workers it holds)."""
        reread = SHARED_SCHEDULES_REREAD if shared else None
        self.scheduler = Scheduler(storage, self.lifecycle, self.wake, self.metrics, clock, reread)
        self.leader = Leader(
            leadership, self._singletons, settings.leader_interval, self.master_id, self.metrics.leader.set
        )
        """Runs the scheduler and retention while this master leads its database's masters."""
        self.lost = LostWorkers(
            storage,
            self.lifecycle,
            self.sessions,
            settings.worker_lost_timeout,
            self.metrics,
            self.master_id,
            seen_within(settings),
        )
        self.session_services = SessionServices(
            settings,
            storage,
            logs,
            self.lifecycle,
            self.events,
            self.metrics,
            self.bounces,
            self.log_space,
            self.sessions,
            ArtifactStore(logs),
            self.wake,
            self.heard,
        )
        """What every worker session uses (`WorkerSession(master.session_services, ...)`)."""
        self.seen: set[str] = set()
        """Workers heard from since `last_seen` was last written (by `record_seen`)."""
        self._tasks: list[asyncio.Task[None]] = []

    def wake(self) -> None:
        """Something may be runnable: the dispatcher looks at once."""
        self.dispatcher.wake()

    def heard(self, worker_id: str) -> None:
        """`worker_id` was heard from: its `last_seen` is written with the next batch."""
        self.seen.add(worker_id)

    async def start(self) -> None:
        """Start dispatching, pipelines, schedules and deliveries (a first pass runs at once: runs may be waiting)."""
        await self.configuration_changed()
        recovered = await self.storage.recover_deliveries(self.notifications.by_project)
        if recovered:
            logger.info("deliveries of %d runs stored after a stop between a run's end and its outbox", recovered)
        self._tasks.append(asyncio.create_task(self.sender.run_forever(), name="deliveries"))
        self._tasks.append(asyncio.create_task(self.dispatcher.run_forever(), name="dispatcher"))
        self._tasks.append(asyncio.create_task(self.leader.run_forever(), name="leader"))
        # Runs another process created (the api through another master, another master's
        # schedules, retries and pipelines) wake this dispatcher too (PostgreSQL: LISTEN/NOTIFY).
        self._tasks.append(asyncio.create_task(self.storage.wakeups().run_forever(self.wake), name="wake-ups"))
        self._tasks.append(asyncio.create_task(self.record_seen(), name="last seen"))
        self._tasks.append(asyncio.create_task(self.resume_retries(), name="resume retries"))
        self.pipeline_runner.open()
        self.lost.start()
        self.dispatcher.wake()

    def _singletons(self) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        """What the leader runs: the scheduler, retention and the stale workers' sweep (built afresh on each lead)."""
        return [
            ("scheduler", self.scheduler.run_forever()),
            ("retention", retain_forever(self.settings, self.storage, self.logs)),
            ("stale workers", self.deactivate_stale_workers()),
        ]

    async def deactivate_stale_workers(self) -> None:
        """Mark inactive, every `seen_within`, the workers no master has seen for that long.

        A master killed leaves its workers' rows active; those that connect elsewhere are
        written again, the others would stay active for good without this sweep.
        """
        window = seen_within(self.settings)
        while True:
            await asyncio.sleep(window.total_seconds())
            try:
                stale = await self.storage.deactivate_workers(seen_before=utcnow() - window)
            except StorageError as exc:
                self.metrics.storage_errors.inc()
                logger.warning("stale workers not marked inactive (retried): %s", exc)
                continue
            if stale:
                logger.info("%d workers unseen for %.0f s marked inactive", stale, window.total_seconds())

    async def stop(self) -> None:
        """Stop dispatching, pipelines and schedules, and close every worker connection."""
        await self.pipeline_runner.close()
        self.lost.close()
        self.log_space.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for session in list(self.sessions.values()):
            await session.close(1001, "master stopping")
        with contextlib.suppress(Exception):
            await self.storage.deactivate_workers(master=self.master_id)  # the others' stay theirs

    async def resume_retries(self) -> None:
        """Create the retries a stop left recorded but not created (MongoDB only; SQL never leaves one)."""
        count = await until_stored(self.storage.resume_retries, "resuming retries", self.metrics)
        if count:
            logger.info("created %d retries recorded before the last stop", count)
            self.wake()

    async def record_seen(self) -> None:
        """Write `last_seen` of the workers heard from, all in one write every `heartbeat_write_interval`.

        One write per interval for the whole fleet, not one per heartbeat: a thousand idle
        workers would otherwise keep the database and the master busy for nothing.
        """
        while True:
            await asyncio.sleep(self.settings.heartbeat_write_interval)
            seen, self.seen = self.seen, set()
            try:
                await self.storage.touch_workers(seen, utcnow())
            except StorageError as exc:
                self.seen |= seen
                self.metrics.storage_errors.inc()
                logger.warning("last_seen of %d workers not written (retried): %s", len(seen), exc)

    async def serve_worker(self, session: WorkerSession) -> None:
        """Run one worker connection; a newer connection of the same worker replaces it."""
        previous = self.sessions.get(session.worker_id)
        self.sessions[session.worker_id] = session
        if previous is not None:
            logger.warning("worker %s connected again: closing its previous connection", session.worker_id)
            await previous.close(CLOSE_REPLACED, "replaced by a newer connection")
        self.lost.back(session.worker_id)
        ids = {"worker_id": session.worker_id}
        logger.info("worker %s connected (user %s)", session.worker_id, session.owner, extra=ids)
        try:
            await session.serve()
        finally:
            if self.sessions.get(session.worker_id) is session:
                del self.sessions[session.worker_id]
                self.lost.away(session.worker_id)
                with contextlib.suppress(Exception):  # unless it moved to another master meanwhile
                    await self.lifecycle.release_worker(session.worker_id, self.master_id)
            logger.info("worker %s disconnected", session.worker_id, extra=ids)

    # Control ---------------------------------------------------------------------------------

    async def configuration_changed(self) -> None:
        """Configuration was applied: read the projects' notifications again, look at schedules and runs."""
        await self.notifications.refresh(self.storage)
        self.scheduler.wake()
        self.dispatcher.wake()

    async def cancel(self, run_id: str) -> ControlAnswer:
        """Cancel a pending run through the lifecycle (published, counted); answer what happened.

        The api sets the run's `should_cancel` (with its reason) before it calls: that reason
        is kept. A run flagged while this master was unreachable is cancelled by the next
        dispatch pass instead, through the same lifecycle.
        """
        run = await self.storage.get_run(run_id)
        if run is None:
            return ControlAnswer(result=ControlResult.unknown)
        if run.status != RunStatus.pending:
            return ControlAnswer(result=ControlResult.unchanged, status=run.status)
        changes = RunUpdate(should_cancel=True, reason=run.reason if run.should_cancel else None)
        if changes.reason is None:
            changes.reason = "cancelled on request"
        moved = await self.lifecycle.transition(run_id, PENDING, RunStatus.cancelled, changes)
        if moved is None:  # it moved meanwhile (a worker took it)
            current = await self.storage.get_run(run_id)
            return ControlAnswer(result=ControlResult.unchanged, status=current.status if current else None)
        return ControlAnswer(result=ControlResult.cancelled, status=moved.status, run=moved)

    async def abort(self, run_id: str) -> ControlAnswer:
        """Abort a running run; the flag stays for a worker that is not connected now."""
        run = await self.storage.get_run(run_id)
        if run is None:
            return ControlAnswer(result=ControlResult.unknown)
        if run.status == RunStatus.pending:
            return await self.cancel(run_id)
        if run.status != RunStatus.running:
            return ControlAnswer(result=ControlResult.unchanged, status=run.status)
        if run.worker is None:  # only pipeline runs run without a worker
            await self.pipeline_runner.abort(run)
            return ControlAnswer(result=ControlResult.aborting, status=run.status)
        session = self.sessions.get(run.worker or "")
        if session is None or run_id not in session.runs:
            return ControlAnswer(result=ControlResult.deferred, status=run.status)
        session.abort(run_id, "aborted on request")
        return ControlAnswer(result=ControlResult.sent, status=run.status)

    async def disconnect(self, worker_id: str) -> ControlAnswer:
        """Close a worker's connection and clear its `should_disconnect` flag."""
        await self.lifecycle.update_worker(worker_id, WorkerUpdate(should_disconnect=False))
        session = self.sessions.get(worker_id)
        if session is None:
            return ControlAnswer(result=ControlResult.not_connected)
        await session.close(CLOSE_DISCONNECT_REQUESTED, "disconnect requested")
        return ControlAnswer(result=ControlResult.disconnected)
