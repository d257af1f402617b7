"""The pipeline engine: runs a pipeline job's elements as child runs (docs/concepts.md, Configuration as code).

A pipeline run takes no executor slot: the dispatcher hands it to `PipelineRunner.start`,
which claims it (pending → running, no worker) and creates the child runs of the elements
whose `after` conditions hold. The runner then follows the master's event hub: each time a
child run ends, its pipeline is re-evaluated — elements now due start, elements that can no
longer start are skipped, and once every element is final the pipeline ends `succeeded`
(every element succeeded), `failed` (otherwise) or `aborted` (on request).

Nothing lives only in memory: every evaluation re-reads the pipeline run and its children
from storage (`podium_model.pipelines`), child runs have deterministic ids so a replayed start
cannot duplicate an element, and at start-up, after a lost event stream and on every safety
sweep, every running pipeline is evaluated again. A master killed mid-pipeline therefore
resumes where storage says it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from podium_master.events import EventHub, Overflow, Subscription
from podium_master.lifecycle import PENDING, RUNNING, Lifecycle
from podium_master.metrics import MasterMetrics
from podium_model import Job, PipelineDefinition, PipelineElement, Run, RunSource, RunStatus, RunUpdate, utcnow
from podium_model.control import ControlAnswer, MasterEvent, RunChanged
from podium_model.parameters import secret_keys
from podium_model.pipelines import build_graph, element_run_id, outcome
from podium_storage.interface import AlreadyExists, Storage, StorageError
from podium_storage.pipelines import load_children

logger = logging.getLogger(__name__)

ABORTED_REASON = "the pipeline was aborted"


class PipelineRunner:
    """Starts, follows, aborts and ends pipeline runs; one per master.

    Args:
        storage: where pipeline runs, their jobs and their children are read.
        lifecycle: where they change and children are created.
        events: the master's event hub, followed for the ends of children.
        wake: tells the dispatcher children are waiting.
        abort: the master's abort of one run (a running child is on a worker, or a pipeline).
        sweep_interval: seconds between evaluations of every running pipeline.
        metrics: counts the evaluations the database refused.
    """

    def __init__(
        self,
        storage: Storage,
        lifecycle: Lifecycle,
        events: EventHub,
        wake: Callable[[], None],
        abort: Callable[[str], Awaitable[ControlAnswer]],
        sweep_interval: float,
        metrics: MasterMetrics,
    ) -> None:
        self.storage = storage
        self.lifecycle = lifecycle
        self.events = events
        self._wake_dispatcher = wake
        self._abort_run = abort
        self.sweep_interval = sweep_interval
        self.metrics = metrics
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # lock and its users, per run
        self._task: asyncio.Task[None] | None = None

    # Life of the runner -----------------------------------------------------------------------

    def open(self) -> None:
        """Follow the event hub (and resume every running pipeline) until `close`."""
        self._task = asyncio.create_task(self._follow(), name="pipelines")

    async def close(self) -> None:
        """Stop following events."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow(self) -> None:
        """Evaluate a pipeline on each end of one of its children; sweep all of them regularly."""
        interval = self.sweep_interval
        while True:
            subscription = self.events.subscribe()
            try:
                await self.resume_all()
                await self._consume(subscription, interval)
            except asyncio.CancelledError:
                raise
            except Overflow:
                logger.warning("pipeline engine fell behind the event hub: resubscribing and resuming")
            except StorageError as exc:
                self.metrics.storage_errors.inc()
                logger.warning("pipeline engine paused (database error), resuming after %.1fs: %s", interval, exc)
                await asyncio.sleep(interval)
            except Exception:
                logger.exception("pipeline engine failed; resuming after a sweep interval")
                await asyncio.sleep(interval)
            finally:
                subscription.close()

    async def _consume(self, subscription: Subscription, interval: float) -> None:
        next_sweep = time.monotonic() + interval
        while True:
            try:  # a batch: one timer per wake-up, not per event (a burst publishes several per run)
                events = await asyncio.wait_for(subscription.batch(), max(0.0, next_sweep - time.monotonic()))
            except TimeoutError:
                await self.resume_all()
                next_sweep = time.monotonic() + interval
                continue
            for event in events:
                parent = _finished_child_parent(event)
                if parent is not None:
                    await self.advance(parent)

    async def resume_all(self) -> None:
        """Evaluate every running pipeline run (start-up, lost events, safety sweep)."""
        for run in await self.storage.list_active_runs():
            if run.worker is None:
                await self.advance(run.id)

    # Hooks of the master ----------------------------------------------------------------------

    async def start(self, run: Run, job: Job) -> None:
        """Take charge of a pending run of a pipeline job (the dispatcher's hook)."""
        now = utcnow()
        changes = RunUpdate(worker=None, assigned_at=now, started_at=now, waiting_reason=None)
        claimed = await self.lifecycle.transition(run.id, PENDING, RunStatus.running, changes)
        if claimed is None:
            return  # cancelled meanwhile, or another master took it
        logger.info("pipeline run %s of %s/%s started", run.id, run.project, run.job)
        await self.advance(run.id)

    async def abort(self, run: Run) -> None:
        """Abort a running pipeline: abort its running children, cancel its pending ones."""
        if not run.should_abort:
            await self.lifecycle.update(run.id, RunUpdate(should_abort=True, reason="aborted on request"))
        # Every master is asked (the api broadcasts an abort): each sends the abort to the
        # running elements whose workers it holds, even those another master flagged already.
        await self.advance(run.id, resend_aborts=True)

    # Evaluation -------------------------------------------------------------------------------

    async def advance(self, run_id: str, resend_aborts: bool = False) -> None:
        """Bring pipeline run `run_id` forward as far as storage allows (idempotent).

        `resend_aborts`: of an aborting pipeline, send the abort to every running element this
        master's workers hold, not only to those it flags now.
        """
        lock, users = self._locks.get(run_id, (asyncio.Lock(), 0))
        self._locks[run_id] = (lock, users + 1)
        try:
            async with lock:
                await self._advance(run_id, resend_aborts)
        finally:
            lock, users = self._locks[run_id]
            if users == 1:
                del self._locks[run_id]
            else:
                self._locks[run_id] = (lock, users - 1)

    async def _advance(self, run_id: str, resend_aborts: bool) -> None:
        storage = self.storage
        run = await storage.get_run(run_id)
        if run is None or run.status != RunStatus.running or run.worker is not None:
            return
        job = await storage.get_job(run.project, run.job)
        if job is None or not isinstance(job.definition, PipelineDefinition):
            gone = RunUpdate(reason="its pipeline job no longer exists")
            await self.lifecycle.transition(run.id, RUNNING, RunStatus.exception, gone)
            return
        definition = job.definition
        children = await load_children(storage, run.id, definition)
        if run.should_abort:
            children.update(await self._stop_children(children, resend_aborts))
        graph = build_graph(definition, children, aborted=run.should_abort)
        elements = {element.id: element for element in definition.elements}
        due = [elements[node.element] for node in graph.nodes if node.ready]
        if due:
            for element in due:
                await self._create_child(run, job, element)
            self._wake_dispatcher()
            return
        ended = outcome(graph, aborted=run.should_abort)
        if ended is None:
            return
        status, reason = ended
        if status == RunStatus.aborted and run.reason:
            reason = run.reason
        moved = await self.lifecycle.transition(run.id, RUNNING, status, RunUpdate(reason=reason))
        if moved is not None:
            logger.info("pipeline run %s ended %s%s", run.id, status, f": {reason}" if reason else "")

    async def _create_child(self, run: Run, job: Job, element: PipelineElement) -> None:
        parameters = {p.key: p.default for p in job.parameters if p.default is not None}
        parameters.update(run.parameters)
        parameters.update(element.parameters)
        source = RunSource(type="pipeline", run=run.id, element=element.id, user=run.source.user)
        child_id = element_run_id(run.id, element.id)
        # The parent's secret values passed down stay secret, and so do the child job's own.
        child = await self.storage.get_job(run.project, element.job)
        secret = {key for key in run.secret_parameters if key not in element.parameters}
        secret.update(secret_keys(child.parameters) if child is not None else ())
        # The child takes its own job's priority and concurrency key; a pipeline run whose
        # trigger overrode its priority passes that priority on to its elements.
        priority = run.priority if run.priority != job.priority else None
        try:
            await self.lifecycle.create(
                run.project, child or element.job, parameters, source, child_id, sorted(secret), priority
            )
        except AlreadyExists:
            return  # started before (a replay after a restart): never twice
        logger.info("pipeline run %s: element %s started as run %s", run.id, element.id, child_id)

    async def _stop_children(self, children: dict[str, Run], resend: bool) -> dict[str, Run]:
        """Cancel the pending children and abort the running ones; the children that moved.

        A running child is flagged once (`should_abort`); the abort is sent when it is flagged and,
        with `resend`, again for one flagged before (by another master, whose workers may not hold it).
        """
        moved: dict[str, Run] = {}
        lifecycle = self.lifecycle
        for element, child in children.items():
            if child.status == RunStatus.pending:
                changes = RunUpdate(should_cancel=True, reason=ABORTED_REASON)
                cancelled = await lifecycle.transition(child.id, PENDING, RunStatus.cancelled, changes)
                if cancelled is not None:
                    moved[element] = cancelled
            elif child.status == RunStatus.running and (resend or not child.should_abort):
                if not child.should_abort:
                    await lifecycle.update(child.id, RunUpdate(should_abort=True, reason=ABORTED_REASON))
                result = await self._abort_run(child.id)
                logger.info(
                    "pipeline %s: abort of element %s (run %s): %s", child.source.run, element, child.id, result.result
                )
        return moved


def _finished_child_parent(event: MasterEvent) -> str | None:
    """The parent pipeline run of a child run that reached a final status, if the event says so."""
    if not isinstance(event, RunChanged):
        return None
    run = event.run
    if run.source.type != "pipeline" or not run.source.run or not run.status.is_final:
        return None
    return run.source.run
