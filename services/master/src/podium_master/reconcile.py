"""Start-up reconciliation of a worker connection: describe, list, and adopt what it holds.

The master asks a newly connected worker to describe itself and list its runs, then makes
the database agree: a run the database gives to this worker but the worker no longer holds
goes back to pending (with its partial log dropped), and every run the worker holds is
resynchronised from the offset the master's log store holds. A run that ended while the
worker was away (`lost`) but still runs there is aborted, its log kept.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from podium_master.protocol import result_of
from podium_master.services import SessionServices
from podium_model import Run, RunStatus, WorkerUpdate, utcnow
from podium_model.messages import Clean, Describe, ListRuns, Response, RunList, WorkerRunState
from podium_model.workers import Worker, WorkerDescription

logger = logging.getLogger(__name__)


class Reconciled(Protocol):
    """What the reconciliation uses of a worker connection (`session.WorkerSession`)."""

    services: SessionServices
    worker_id: str
    owner: str
    worker: Worker | None
    containers: str | None
    ready: bool

    @property
    def runs(self) -> Mapping[str, Any]:
        """The runs the connection tracks, by id."""

    async def request(self, message: Any, timeout: float | None = None) -> Response:
        """Send a request and wait for its response."""

    def send_request(self, message: Any, text: str | None = None) -> asyncio.Future[Response]:
        """Send a request in the background."""

    def hold(self, run_id: str, project: str, held: int) -> Any:
        """Track a run the worker holds."""

    def resync(self, run_id: str, sync: Any) -> None:
        """Ask the worker to stream a run again from what the master holds."""

    def abort(self, run_id: str, reason: str) -> None:
        """Ask the worker to abort a run."""


async def reconcile(session: Reconciled) -> None:
    """Bring the database and the worker's runs in agreement, then mark the session ready."""
    services = session.services
    description = WorkerDescription.model_validate(result_of(await session.request(Describe(id=0)), "describe"))
    session.containers = description.containers
    session.worker = await services.lifecycle.put_worker(
        session.worker_id,
        session.owner,
        WorkerUpdate(
            owner=session.owner,
            version=description.version,
            display_name=description.display_name,
            properties=description.properties,
            executor_limit=description.executor_limit,
            is_active=True,
            should_disconnect=False,
            last_seen=utcnow(),
            master=services.settings.master_id,  # this master holds it now
        ),
    )
    listing = RunList.model_validate(result_of(await session.request(ListRuns(id=0)), "list"))
    held = {state.run_id: state for state in listing.runs}
    for run in await services.storage.list_active_runs(worker=session.worker_id):
        if run.id not in held:
            logger.warning("worker %s no longer holds run %s", session.worker_id, run.id)
            await services.bounces.bounce(run.id, session.worker_id, f"requeued: worker {session.worker_id} lost it")
    for state in listing.runs:
        await _adopt(session, state, await services.storage.get_run(state.run_id))
    session.ready = True
    logger.info("worker %s ready (%d runs held)", session.worker_id, len(session.runs))
    services.wake()


async def _adopt(session: Reconciled, state: WorkerRunState, run: Run | None) -> None:
    services = session.services
    if run is None:
        session.send_request(Clean(id=0, run_id=state.run_id))
        return
    if run.status == RunStatus.pending:
        # The worker kept a run the database had given up on: this attempt is the run again.
        if await services.lifecycle.claim(run.id, session.worker_id) is None:
            return
        held = 0  # a claim empties the log
    elif run.status.is_final or run.worker == session.worker_id:
        held = await services.logs.size(run.project, run.id)
    else:
        logger.warning("worker %s holds run %s of worker %s: ignored", session.worker_id, run.id, run.worker)
        return
    lost = run.status.is_final  # it ended while the worker was away (`lost`)
    if lost and state.status.is_final and held >= state.log_size:
        session.send_request(Clean(id=0, run_id=state.run_id))  # the master has it all
        return
    # A lost run's log keeps what the worker still has; its final status, recorded already, cleans it.
    session.resync(run.id, session.hold(run.id, run.project, held))
    if lost and not state.status.is_final:
        session.abort(run.id, f"the run ended {run.status.value} while worker {session.worker_id} was away")
    elif run.should_abort:
        session.abort(run.id, "aborted on request")
