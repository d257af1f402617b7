"""Event-driven dispatch of pending runs onto connected workers (docs/concepts.md, Run lifecycle).

`wake()` is called when something may have become runnable (the api's `/control/dispatch`, a
worker ready, a slot freed, a job enabled); the loop then dispatches at once. A slow safety
sweep catches whatever a lost signal missed. Runs are taken highest priority first, oldest first
within one, and claimed with a compare-and-set (pending → running) before the worker is told,
so no run is started twice. A run that no worker can take now waits and the runs behind it are
looked at, so a high-priority run never blocks lower ones that another worker can take.

Concurrency limits (docs/jobs.md, Concurrency): a run that stores a concurrency key is placed
only while fewer than its job's `limit` runs hold the key (`Holders`, kept by `Lifecycle`);
otherwise it waits, is cancelled (`cancel_new`) or has the oldest holder aborted (`cancel_old`).
Runs without a key skip all of it.

A retry waiting out its delay (`not_before`) stays pending, and a timer wakes the loop at the
earliest such time (`wake_at`): nothing polls for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from podium_master.concurrency import Holders
from podium_master.lifecycle import PENDING, Lifecycle
from podium_master.metrics import MasterMetrics
from podium_master.poison import Bounces, MessageTooLarge
from podium_master.secrets import RunSecrets, SecretsUnavailable
from podium_master.selector import BUSY, Selector, WorkerSlot, can_run, image, waiting_reason
from podium_master.session import WorkerSession
from podium_master.settings import MasterSettings
from podium_model import CommandsDefinition, Concurrency, Job, Run, RunStatus, RunUpdate, utcnow
from podium_model.messages import Response, RunRequest
from podium_storage.auth import mint_run_token
from podium_storage.interface import Storage, StorageError, pending_cursor

logger = logging.getLogger(__name__)

PAGE = 200
"""Pending runs read per query."""
ROUND_LIMIT = 1000
"""Pending runs a signalled round looks at, at most (it stops earlier once no worker has room)."""
SWEEP_LIMIT = 10_000
"""Pending runs a sweep looks at, at most, to bring their waiting reasons up to date."""
_PAYLOAD_SOURCES = frozenset({"webhook", "retry", "rerun"})
"""The sources of the runs that may hold a webhook payload."""
WORKER_REFRESH_INTERVAL = 60.0
"""Seconds between re-reads of every connected worker's stored settings by a sweep (the api
asks for a refresh of the worker it changes; this only catches a lost request)."""


CANCELLED = "cancelled"
"""What `_limited` answers for a run it cancelled (`on_full: cancel_new`)."""


class PipelineEngine(Protocol):
    """What the dispatcher needs of the pipeline engine."""

    async def start(self, run: Run, job: Job) -> None:
        """Take charge of a pending run of a pipeline job."""


Placement = tuple[Run, Job, WorkerSlot, WorkerSession]
"""A run, its job, the worker chosen for it and that worker's session."""


@dataclass
class _Round:
    """One dispatch pass: the workers as the selector sees them, and what the pass decided."""

    sweep: bool
    now: datetime
    views: list[WorkerSlot]
    """The ready workers: what the selector chooses from."""
    every: list[WorkerSlot]
    """Draining workers too, to say so in a waiting reason."""
    sessions: dict[str, WorkerSession]
    """The ready workers' sessions by id."""
    room: int
    """Free slots of the ready, enabled workers, less the runs placed so far."""
    jobs: dict[tuple[str, str], Job | None] = field(default_factory=dict)
    reasons: dict[str, str | None] = field(default_factory=dict)
    """Waiting reasons to write, by run id."""
    placed: list[Placement] = field(default_factory=list)


class Dispatcher:
    """Places pending runs; one loop per master.

    Args:
        settings: the master's settings (sweep interval, pending expiry, run environment).
        storage: where pending runs and jobs are read.
        lifecycle: where runs change (claims, cancellations, waiting reasons).
        sessions: the connected workers' sessions by worker id (the master's live registry).
        pipelines: the engine that takes the runs of pipeline jobs.
        selector: chooses a worker for a run.
        metrics: the master's metrics (storage errors).
        bounces: the runs held back after a bounce, and where a refused run goes (`poison`).
        secrets: opens the project secrets a job names, for its execute message.
    """

    def __init__(
        self,
        settings: MasterSettings,
        storage: Storage,
        lifecycle: Lifecycle,
        sessions: Mapping[str, WorkerSession],
        pipelines: PipelineEngine,
        selector: Selector,
        metrics: MasterMetrics,
        bounces: Bounces,
        secrets: RunSecrets,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.lifecycle = lifecycle
        self.sessions = sessions
        self.pipelines = pipelines
        self.selector = selector
        self.metrics = metrics
        self.bounces = bounces
        self.secrets = secrets
        self.holders: Holders = lifecycle.holders
        self._event = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._next_refresh = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def wake(self) -> None:
        """Dispatch as soon as possible (cheap; signals coalesce)."""
        self._event.set()

    def wake_at(self, when: datetime | None) -> None:
        """Dispatch at `when` (a retry's not-before time; None: now).

        One timer, kept for the earliest time asked; a round that meets a run still waiting
        asks again for its time, so the next one is armed once this one has fired.
        """
        if when is None:
            self.wake()
            return
        loop = asyncio.get_running_loop()
        # A millisecond late, so the round's clock has passed the stored time when it looks.
        deadline = loop.time() + max(0.0, (when - utcnow()).total_seconds()) + 0.001
        if self._timer is not None:
            if self._timer.when() <= deadline:
                return
            self._timer.cancel()
        self._timer = loop.call_at(deadline, self._timer_fired)

    def _timer_fired(self) -> None:
        self._timer = None
        self.wake()

    async def run_forever(self) -> None:
        """Dispatch on every signal, and sweep every pending run at least every `sweep_interval` seconds."""
        interval = self.settings.sweep_interval
        next_sweep = 0.0
        while True:
            try:
                await asyncio.wait_for(self._event.wait(), max(0.0, next_sweep - time.monotonic()))
            except TimeoutError:
                pass
            self._event.clear()
            sweep = time.monotonic() >= next_sweep
            if sweep:
                next_sweep = time.monotonic() + interval
            try:
                await self.dispatch_once(sweep=sweep)
            except asyncio.CancelledError:
                raise
            except StorageError as exc:
                self.metrics.storage_errors.inc()
                logger.warning("dispatch paused (database error), retrying at the next signal or sweep: %s", exc)
            except Exception:
                logger.exception("dispatch failed; retrying at the next signal or sweep")

    async def dispatch_once(self, sweep: bool = True) -> int:
        """Place what can be placed now; record why the rest waits. Return how many started.

        Pending runs are read oldest first, a page at a time. A round woken by a signal reads
        pages sized to the free slots and stops once no worker has room (or after `ROUND_LIMIT`
        runs), so a long queue costs each finished run a few rows, not the whole queue; the
        runs behind get their waiting reason from the next sweep, which reads up to
        `SWEEP_LIMIT` runs, `PAGE` at a time.

        The first pass of a master reads who holds the concurrency keys (the running runs) first.
        """
        if not self.holders.ready:
            await self.holders.rebuild(self.storage)
        if sweep and time.monotonic() >= self._next_refresh:
            self._next_refresh = time.monotonic() + WORKER_REFRESH_INTERVAL
            await self.refresh_workers()
        state = self._round(sweep)
        # A signalled round reads just past the free slots (each row read is a run to convert);
        # it reads on, a page at a time, while runs it cannot place leave slots free.
        page = PAGE if sweep else min(PAGE, state.room + 2)
        limit = SWEEP_LIMIT if sweep else ROUND_LIMIT
        started = examined = 0
        runs = await self.storage.list_pending_runs(limit=page)
        while runs:
            for run in runs:
                await self._examine(run, state)
            started += await self._start_all(state.placed)
            state.placed.clear()
            examined += len(runs)
            if len(runs) < page or examined >= limit or (state.room <= 0 and not sweep):
                break
            runs = await self.storage.list_pending_runs(limit=page, after=pending_cursor(runs[-1]))
        await self._record_reasons(state.reasons)
        return started

    def _round(self, sweep: bool) -> _Round:
        """A new pass over the workers connected now."""
        slots, sessions = self._slots()
        views = [slot for slot, _ in slots if not slot.draining]
        room = sum(max(0, slot.executor_limit - slot.load) for slot in views if slot.is_enabled)
        return _Round(sweep, utcnow(), views, [slot for slot, _ in slots], sessions, room)

    async def _examine(self, run: Run, state: _Round) -> None:
        """Decide one pending run: cancel, expire, hand to the pipeline engine, place, or say why it waits."""
        if run.should_cancel:  # asked while this master was unreachable: cancelled now
            await self.lifecycle.transition(
                run.id, PENDING, RunStatus.cancelled, RunUpdate(reason=run.reason or "cancelled on request")
            )
            return
        if run.not_before is not None and run.not_before > state.now:
            self.wake_at(run.not_before)  # a retry waiting out its delay
            return
        if await self._expire(run, state.now):
            return
        if self.bounces.held(run.id):
            return  # it bounced: the runs behind it go first (`poison`)
        job = await self._job(run, state)
        if job is not None and job.is_enabled and not isinstance(job.definition, CommandsDefinition):
            await self.pipelines.start(run, job)
            return
        reason: str | None = None
        if run.concurrency_key is not None and job is not None and job.is_enabled:  # only limited runs pay
            assert isinstance(job.definition, CommandsDefinition)
            if job.definition.concurrency is not None:
                reason = await self._limited(run, job.definition.concurrency)
                if reason == CANCELLED:
                    return
        if reason is None:
            reason = self._place(run, job, state)
        if reason is None:
            return
        # A run queued behind busy workers is what pending means: a signalled round leaves
        # it unexplained (a burst would otherwise write and publish each run once more),
        # and the next sweep writes it. A reason that changed is written at once.
        quiet = not state.sweep and reason == BUSY and run.waiting_reason is None
        if reason != run.waiting_reason and not quiet:
            state.reasons[run.id] = reason

    async def _limited(self, run: Run, concurrency: Concurrency) -> str | None:
        """None while the run's key has room; else act on `on_full` and say why the run waits.

        `CANCELLED` when the run was cancelled (`cancel_new`). With `cancel_old`, the oldest
        running holder is asked to abort, one at a time: the run starts once it has ended.
        """
        assert run.concurrency_key is not None
        key, limit = run.concurrency_key, concurrency.limit
        if self.holders.count(run.project, key) < limit:
            return None
        reason = f"concurrency limit {limit} of key {key} reached"
        if concurrency.on_full == "cancel_new":
            changes = RunUpdate(reason=f"cancelled: {reason} (on_full: cancel_new)")
            await self.lifecycle.transition(run.id, PENDING, RunStatus.cancelled, changes)
            return CANCELLED
        if concurrency.on_full == "cancel_old":
            running = self.holders.running(run.project, key)
            aborting = next((holder for holder in running if holder.should_abort), None)
            if aborting is None and running:
                aborting = running[0]
                await self._abort_holder(aborting, f"aborted: run {run.id} replaces it ({reason}, on_full: cancel_old)")
            if aborting is not None:
                return f"{reason}; waiting for run {aborting.id} to end (on_full: cancel_old)"
        return reason

    async def _abort_holder(self, holder: Run, reason: str) -> None:
        """Abort a running run that holds a key (`cancel_old`); the flag stays for a worker away now."""
        await self.lifecycle.update(holder.id, RunUpdate(should_abort=True, reason=reason))
        session = self.sessions.get(holder.worker or "")
        if session is not None and holder.id in session.runs:
            session.abort(holder.id, reason)
        logger.info("run %s %s", holder.id, reason, extra={"run_id": holder.id, "project": holder.project})

    async def _expire(self, run: Run, now: datetime) -> bool:
        """Cancel `run` if it waited `pending_expiry` seconds (a retry: since its delay ended); True when expired."""
        expiry = self.settings.pending_expiry
        since = run.created_at if run.not_before is None else max(run.created_at, run.not_before)
        if (now - since).total_seconds() < expiry:
            return False
        reason = f"expired: no worker took it within {expiry:g} s ({run.waiting_reason or 'waiting'})"
        if await self.lifecycle.transition(run.id, PENDING, RunStatus.cancelled, RunUpdate(reason=reason)):
            logger.info("run %s %s", run.id, reason)
        return True

    async def _job(self, run: Run, state: _Round) -> Job | None:
        """The run's job, read once per pass."""
        key = (run.project, run.job)
        if key not in state.jobs:
            state.jobs[key] = await self.storage.get_job(run.project, run.job)
        return state.jobs[key]

    def _place(self, run: Run, job: Job | None, state: _Round) -> str | None:
        """Choose a worker for a run of a list of commands; None when placed, else why it waits."""
        if job is None:
            return "its job no longer exists"
        if not job.is_enabled:
            return "its job is disabled"
        views = state.views
        if image(job) is not None:  # a host job pays nothing for this
            views = [slot for slot in views if can_run(job, slot)]
        chosen = self.selector(job, run, views) if state.room > 0 else None
        if chosen is None or chosen.id not in state.sessions:
            return waiting_reason(job, state.every)
        chosen.load += 1  # counted now, so the selector sees it for the next run
        state.room -= 1
        if run.concurrency_key is not None:
            self.holders.reserve(run)  # counted now, so the next run of the key sees it
        state.placed.append((run, job, chosen, state.sessions[chosen.id]))
        return None

    async def _record_reasons(self, reasons: dict[str, str | None]) -> None:
        """Write the waiting reasons together (they share a transaction), only while each run is still pending."""
        await asyncio.gather(
            *(
                self.lifecycle.transition(run_id, PENDING, RunStatus.pending, RunUpdate(waiting_reason=reason))
                for run_id, reason in reasons.items()
            )
        )

    async def refresh_workers(self, worker_id: str | None = None) -> None:
        """Read the stored settings (enabled, properties, limit) of one connected worker, or of all.

        Rounds use what the sessions hold, so that a round costs no read of the whole fleet: the
        api asks for a refresh when it changes a worker, and a sweep refreshes them all once a
        minute.
        """
        if worker_id is None:
            stored = {worker.id: worker for worker in await self.storage.list_workers()}
        else:
            one = await self.storage.get_worker(worker_id)
            stored = {} if one is None else {one.id: one}
        for session in self.sessions.values():
            if session.worker is not None and session.worker_id in stored:
                session.worker = stored[session.worker_id]

    def _slots(self) -> tuple[list[tuple[WorkerSlot, WorkerSession]], dict[str, WorkerSession]]:
        """The ready and the draining workers as the selector sees them, and the ready ones' sessions by id."""
        slots: list[tuple[WorkerSlot, WorkerSession]] = []
        for session in self.sessions.values():
            if not (session.ready or session.draining):
                continue
            worker = session.worker
            if worker is None:
                continue
            slot = WorkerSlot(
                id=session.worker_id,
                properties=dict(worker.properties),
                executor_limit=worker.executor_limit,
                load=session.load,
                is_enabled=worker.is_enabled,
                draining=session.draining,
                containers=session.containers,
            )
            slots.append((slot, session))
        return slots, {slot.id: session for slot, session in slots if not slot.draining}

    def _run_environment(self, run_id: str) -> dict[str, str]:
        """`PODIUM_API_URL` and a run token for the run's commands, when the master knows both."""
        settings = self.settings
        secret = settings.control_secret.get_secret_value() if settings.control_secret is not None else ""
        if not secret or not settings.api_url:
            return {}
        return {"PODIUM_API_URL": settings.api_url, "PODIUM_TOKEN": mint_run_token(secret, run_id)}

    async def _start_all(self, placed: list[Placement]) -> int:
        """Claim and send the placed runs together (their claims share one commit); how many started."""
        try:
            outcomes = await asyncio.gather(*(self._start(*placement) for placement in placed))
        finally:
            for run, _, _, _ in placed:
                self.holders.release(run)  # a claimed run holds its key as running now
        for (_, _, slot, _), started in zip(placed, outcomes, strict=True):
            if not started:
                slot.load -= 1
        return sum(outcomes)

    async def _start(self, run: Run, job: Job, slot: WorkerSlot, session: WorkerSession) -> bool:
        assert isinstance(job.definition, CommandsDefinition)
        secrets: dict[str, str] = {}
        if job.definition.secrets:  # jobs naming none pay no read
            try:
                secrets = await self.secrets.values(run.project, job.definition.secrets)
            except SecretsUnavailable as exc:
                await self.lifecycle.transition(run.id, PENDING, RunStatus.exception, RunUpdate(reason=str(exc)))
                return False
        # Only webhook runs, and the retries and reruns that may repeat one (they get a copy of
        # its body), pay the read of their payload (`routes/hooks.py` stores it first).
        payload = await self.storage.get_run_payload(run.id) if run.source.type in _PAYLOAD_SOURCES else None
        # A pipeline follows its element's run, not a retry of it: its children are not retried.
        retry = job.definition.retry if run.source.type != "pipeline" else None
        claimed = await self.lifecycle.claim(run.id, slot.id, retry, replace_retry=run.retry is not None)
        if claimed is None:
            self.metrics.claims_lost.inc()
            return False  # someone else moved it (another master took it, or it was cancelled meanwhile)
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
            secrets=secrets,
            payload=payload,
            secret_parameters=sorted({*run.secret_parameters, *(p.key for p in job.parameters if p.secret)}),
        )
        try:
            future = session.execute(request, 0)  # a claimed run's log starts empty
        except MessageTooLarge as exc:
            await self.bounces.undeliverable(run.id, slot.id, str(exc))
            return False
        task = asyncio.create_task(self._confirm(run.id, session, future), name=f"execute {run.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        ids = {"run_id": run.id, "project": run.project, "job": run.job, "worker_id": slot.id}
        logger.debug("run %s dispatched to worker %s", run.id, slot.id, extra=ids)  # its end is logged at info
        return True

    async def _confirm(self, run_id: str, session: WorkerSession, future: asyncio.Future[Response]) -> None:
        try:
            response = await future
        except asyncio.CancelledError:
            return  # the connection went away: its next `list` reconciles the run
        if response.ok:
            self.bounces.delivered(run_id)
            return
        detail = response.error.message if response.error else "refused"
        session.runs.pop(run_id, None)
        code = response.error.code if response.error else None
        refused = f"worker {session.worker_id} refused it: {detail}"
        await self.bounces.bounce(run_id, session.worker_id, refused, code)
        self.wake()
