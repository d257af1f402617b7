"""`/workers`: the fleet, enabling workers and disconnecting them."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter

from podium_api.deps import ControlDep, StorageDep, UserDep
from podium_api.lookups import worker_or_404
from podium_api.permissions import operation
from podium_model import Worker, WorkerUpdate

logger = logging.getLogger(__name__)

Responses = dict[int | str, dict[str, Any]]

router = APIRouter(prefix="/workers", tags=["workers"])

_NOT_FOUND: Responses = {404: {"description": "No such worker"}}


@router.get("", response_model=list[Worker], **operation("listWorkers", summary="List workers"))
async def list_workers(storage: StorageDep) -> list[Worker]:
    """Every worker the master has seen, by id."""
    return await storage.list_workers()


@router.get("/{worker}", response_model=Worker, responses=_NOT_FOUND, **operation("getWorker", summary="Get a worker"))
async def get_worker(worker: str, storage: StorageDep) -> Worker:
    """One worker."""
    return await worker_or_404(storage, worker)


async def _update(storage: StorageDep, worker: str, changes: WorkerUpdate) -> Worker:
    await worker_or_404(storage, worker)
    updated = await storage.update_worker(worker, changes)
    return updated if updated is not None else await worker_or_404(storage, worker)


@router.post(
    "/{worker}/enable", response_model=Worker, responses=_NOT_FOUND, **operation("enableWorker", summary="Enable")
)
async def enable_worker(worker: str, principal: UserDep, storage: StorageDep, master: ControlDep) -> Worker:
    """Let the master dispatch runs to this worker again."""
    updated = await _update(storage, worker, WorkerUpdate(is_enabled=True))
    await storage.record_audit(principal.id, "worker.enable", f"worker/{worker}")
    await master.refresh_worker(worker)
    return updated


@router.post(
    "/{worker}/disable", response_model=Worker, responses=_NOT_FOUND, **operation("disableWorker", summary="Disable")
)
async def disable_worker(worker: str, principal: UserDep, storage: StorageDep, master: ControlDep) -> Worker:
    """Stop dispatching new runs to this worker (its running runs go on)."""
    updated = await _update(storage, worker, WorkerUpdate(is_enabled=False))
    await storage.record_audit(principal.id, "worker.disable", f"worker/{worker}")
    await master.refresh_worker(worker)
    return updated


@router.post(
    "/{worker}/disconnect",
    response_model=Worker,
    responses=_NOT_FOUND,
    **operation("disconnectWorker", summary="Disconnect"),
)
async def disconnect_worker(worker: str, principal: UserDep, storage: StorageDep, master: ControlDep) -> Worker:
    """Ask the master to close the worker's connection (the worker reconnects later)."""
    updated = await _update(storage, worker, WorkerUpdate(should_disconnect=True))
    logger.info("worker %s disconnect requested by %s", worker, principal.id)
    master.disconnect(worker)
    return updated
