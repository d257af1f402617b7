"""`/projects/{project}/runs`: listing, reading, logs, results, archives, cancel and abort."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import tarfile
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from podium_api.deps import LogsDep, MasterDep, StorageDep, UserDep
from podium_api.errors import InvalidTransition
from podium_api.lookups import project_or_404, run_or_404
from podium_api.permissions import operation
from podium_model import Page, Run, RunDetail, RunFilter, RunStatus, RunUpdate, utcnow
from podium_storage.pipelines import run_detail

logger = logging.getLogger(__name__)

Responses = dict[int | str, dict[str, Any]]

router = APIRouter(prefix="/projects/{project}/runs", tags=["runs"])

_NOT_FOUND: Responses = {404: {"description": "No such project or run"}}
_CONFLICT: Responses = {409: {"description": "The run's status does not allow it"}}
MAX_LOG_READ = 16 * 1024 * 1024


@router.get("", response_model=Page[Run], responses=_NOT_FOUND, **operation("listRuns", summary="List runs"))
async def list_runs(
    project: str,
    storage: StorageDep,
    job: str | None = None,
    status: Annotated[list[RunStatus] | None, Query()] = None,
    worker: str | None = None,
    source: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Page[Run]:
    """Runs of a project, newest first, filtered; pass `next_cursor` back as `cursor` for the next page."""
    await project_or_404(storage, project)
    run_filter = RunFilter(
        project=project,
        job=job,
        status=status or None,
        worker=worker,
        source=source,
        created_after=created_after,
        created_before=created_before,
    )
    return await storage.list_runs(run_filter, limit=limit, cursor=cursor)


@router.get("/{run}", response_model=RunDetail, responses=_NOT_FOUND, **operation("getRun", summary="Get a run"))
async def get_run(project: str, run: str, storage: StorageDep) -> RunDetail:
    """One run, with its elements' graph when it is a pipeline run."""
    return await run_detail(storage, await run_or_404(storage, project, run))


@router.get(
    "/{run}/log",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Log bytes from `offset`"}, **_NOT_FOUND},
    **operation("getRunLog", summary="Read a run's log"),
)
async def get_run_log(
    project: str,
    run: str,
    storage: StorageDep,
    logs: LogsDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LOG_READ)] = MAX_LOG_READ,
) -> Response:
    """The log's bytes from byte `offset` (at most `limit`); `X-Podium-Log-Offset` is where the next read starts."""
    found = await run_or_404(storage, project, run)
    data = await asyncio.to_thread(logs.read, found.project, found.id, offset, limit)
    return Response(
        data,
        media_type="text/plain; charset=utf-8",
        headers={"X-Podium-Log-Offset": str(offset + len(data)), "X-Podium-Run-Status": found.status.value},
    )


@router.get(
    "/{run}/results",
    response_model=dict[str, Any],
    responses=_NOT_FOUND,
    **operation("getRunResults", summary="Get a run's results"),
)
async def get_run_results(project: str, run: str, storage: StorageDep) -> dict[str, Any]:
    """The JSON results the run's commands wrote."""
    return (await run_or_404(storage, project, run)).results


def _archive(run: Run, log: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        members = {
            "run.json": run.model_dump_json(indent=2).encode(),
            "log.txt": log,
            "results.json": json.dumps(run.results, indent=2).encode(),
        }
        for name, data in members.items():
            info = tarfile.TarInfo(f"{run.id}/{name}")
            info.size = len(data)
            info.mtime = int(run.updated_at.timestamp())
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@router.get(
    "/{run}/archive",
    response_class=Response,
    responses={200: {"content": {"application/gzip": {}}, "description": "run.json, log.txt, results.json"}},
    **operation("getRunArchive", summary="Download a run's archive"),
)
async def get_run_archive(project: str, run: str, storage: StorageDep, logs: LogsDep) -> Response:
    """A `.tar.gz` holding the run as JSON, its log and its results."""
    found = await run_or_404(storage, project, run)
    log = await asyncio.to_thread(logs.read, found.project, found.id)
    data = await asyncio.to_thread(_archive, found, log)
    return Response(
        data,
        media_type="application/gzip",
        headers={"Content-Disposition": f'attachment; filename="{found.project}-{found.id}.tar.gz"'},
    )


@router.post(
    "/{run}/cancel",
    response_model=Run,
    responses={**_NOT_FOUND, **_CONFLICT},
    **operation("cancelRun", summary="Cancel a pending run"),
)
async def cancel_run(project: str, run: str, principal: UserDep, storage: StorageDep, master: MasterDep) -> Run:
    """Cancel a run no worker has started yet; 409 once it runs or has ended."""
    found = await run_or_404(storage, project, run)
    changes = RunUpdate(should_cancel=True, reason=f"cancelled by {principal.id}", completed_at=utcnow())
    updated = await storage.transition_run(found.id, [RunStatus.pending], RunStatus.cancelled, changes)
    if updated is None:
        current = await run_or_404(storage, project, run)
        raise InvalidTransition(
            f"run {run} is {current.status}; only a pending run can be cancelled", run_status=current.status.value
        )
    logger.info("run %s cancelled by %s", run, principal.id)
    master.cancel(found.id)
    return updated


@router.post(
    "/{run}/abort",
    response_model=Run,
    responses={**_NOT_FOUND, **_CONFLICT},
    **operation("abortRun", summary="Abort a running run"),
)
async def abort_run(project: str, run: str, principal: UserDep, storage: StorageDep, master: MasterDep) -> Run:
    """Ask the worker to stop a running run; it ends `aborted`. 409 unless the run is running."""
    found = await run_or_404(storage, project, run)
    if found.status is not RunStatus.running:
        raise InvalidTransition(
            f"run {run} is {found.status}; only a running run can be aborted", run_status=found.status.value
        )
    updated = await storage.update_run(found.id, RunUpdate(should_abort=True, reason=f"aborted by {principal.id}"))
    logger.info("run %s abort requested by %s", run, principal.id)
    master.abort(found.id)
    return updated or found
