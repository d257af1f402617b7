"""Event-driven dispatch of pending runs onto connected workers (DESIGN section 3).

`wake()` is called when something may have become runnable (the api's `/control/dispatch`, a
worker ready, a slot freed, a job enabled); the loop then dispatches at once. A slow safety
sweep catches whatever a lost signal missed. Runs are taken oldest first and claimed with a
compare-and-set (pending → running) before the worker is told, so no run is started twice.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from podium_master.lifecycle import PENDING
from podium_master.selector import Selector, WorkerSlot, waiting_reason
from podium_model import CommandsDefinition, Job, Run, RunStatus, RunUpdate, utcnow
from podium_model.messages import Response, RunRequest
from podium_storage.auth import mint_run_token
from podium_storage.interface import StorageError

if TYPE_CHECKING:
    from podium_master.master import Master
    from podium_master.session import WorkerSession

logger = logging.getLogger(__name__)


class Dispatcher:
    """Places pending runs; one loop per master."""

    def __init__(self, master: Master, selector: Selector) -> None:
        self.master = master
        self.selector = selector
        self._event = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        """Dispatch as soon as possible (cheap; signals coalesce)."""
        self._event.set()

    async def run_forever(self) -> None:
        """Dispatch on every signal, and at least every `sweep_interval` seconds."""
        interval = self.master.settings.sweep_interval
        while True:
            try:
                await asyncio.wait_for(self._event.wait(), interval)
            except TimeoutError:
                pass
            self._event.clear()
            try:
                await self.dispatch_once()
            except asyncio.CancelledError:
                raise
            except StorageError as exc:
                self.master.metrics.storage_errors.inc()
                logger.warning("dispatch paused (database error), retrying at the next signal or sweep: %s", exc)
            except Exception:
                logger.exception("dispatch failed; retrying at the next signal or sweep")

    async def dispatch_once(self) -> int:
        """Place what can be placed now; record why the rest waits. Return how many started."""
        storage = self.master.storage
        runs = await storage.list_pending_runs()
        if not runs:
            return 0
        stored = {worker.id: worker for worker in await storage.list_workers()}
        slots: list[tuple[WorkerSlot, WorkerSession]] = []
        for session in self.master.ready_sessions():
            worker = stored.get(session.worker_id) or session.worker
            if worker is None:
                continue
            slot = WorkerSlot(
                id=session.worker_id,
                properties=dict(worker.properties),
                executor_limit=worker.executor_limit,
                load=session.load,
                is_enabled=worker.is_enabled,
            )
            slots.append((slot, session))
        views = [slot for slot, _ in slots]
        sessions = {slot.id: session for slot, session in slots}
        jobs: dict[tuple[str, str], Job | None] = {}
        started = 0
        lifecycle = self.master.lifecycle
        expiry = self.master.settings.pending_expiry
        now = utcnow()
        for run in runs:
            if run.should_cancel:
                await lifecycle.transition(run.id, PENDING, RunStatus.cancelled, RunUpdate(reason="cancelled"))
                continue
            if (now - run.created_at).total_seconds() >= expiry:
                reason = f"expired: no worker took it within {expiry:g} s ({run.waiting_reason or 'waiting'})"
                if await lifecycle.transition(run.id, PENDING, RunStatus.cancelled, RunUpdate(reason=reason)):
                    logger.info("run %s %s", run.id, reason)
                continue
            key = (run.project, run.job)
            if key not in jobs:
                jobs[key] = await storage.get_job(run.project, run.job)
            job = jobs[key]
            if job is None:
                reason = "its job no longer exists"
            elif not job.is_enabled:
                reason = "its job is disabled"
            elif not isinstance(job.definition, CommandsDefinition):
                await self._start_other(run, job)
                continue
            else:
                chosen = self.selector(job, run, views)
                if (
                    chosen is not None
                    and chosen.id in sessions
                    and await self._start(run, job, chosen, sessions[chosen.id])
                ):
                    started += 1
                    continue
                reason = waiting_reason(job, views)
            if reason != run.waiting_reason:
                await lifecycle.update(run.id, RunUpdate(waiting_reason=reason))
        return started

    async def _start_other(self, run: Run, job: Job) -> None:
        """A run of a job that is not a list of commands: the pipeline engine's, if any."""
        engine = self.master.pipelines
        if engine is None:
            reason = f"{job.definition.type} jobs are not supported by this master"
            await self.master.lifecycle.transition(run.id, PENDING, RunStatus.exception, RunUpdate(reason=reason))
            return
        await engine.start(run, job)

    def _run_environment(self, run_id: str) -> dict[str, str]:
        """`PODIUM_API_URL` and a run token for the run's commands, when the master knows both."""
        settings = self.master.settings
        secret = settings.control_secret.get_secret_value() if settings.control_secret is not None else ""
        if not secret or not settings.api_url:
            return {}
        return {"PODIUM_API_URL": settings.api_url, "PODIUM_TOKEN": mint_run_token(secret, run_id)}

    async def _start(self, run: Run, job: Job, slot: WorkerSlot, session: WorkerSession) -> bool:
        assert isinstance(job.definition, CommandsDefinition)
        claimed = await self.master.lifecycle.claim(run.id, slot.id)
        if claimed is None:
            return False  # someone else moved it (cancelled meanwhile)
        slot.load += 1
        parameters = {p.key: p.default for p in job.parameters if p.default is not None}
        parameters.update(run.parameters)
        request = RunRequest(
            run_id=run.id,
            project=run.project,
            job=run.job,
            parameters=parameters,
            definition=job.definition,
            worker={**slot.properties, "id": slot.id},
            environment=self._run_environment(run.id),
        )
        future = session.execute(request, 0)  # a claimed run's log starts empty
        task = asyncio.create_task(self._confirm(run.id, session, future), name=f"execute {run.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        ids = {"run_id": run.id, "project": run.project, "job": run.job, "worker_id": slot.id}
        logger.info("run %s dispatched to worker %s", run.id, slot.id, extra=ids)
        return True

    async def _confirm(self, run_id: str, session: WorkerSession, future: asyncio.Future[Response]) -> None:
        try:
            response = await future
        except asyncio.CancelledError:
            return  # the connection went away: its next `list` reconciles the run
        if response.ok:
            return
        detail = response.error.message if response.error else "refused"
        logger.warning("worker %s refused run %s: %s", session.worker_id, run_id, detail)
        session.runs.pop(run_id, None)
        await self.master.lifecycle.requeue(run_id, f"worker {session.worker_id} refused it: {detail}")
        self.wake()
