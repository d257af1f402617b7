"""`/projects/{project}/runs`: listing, reading, logs, results, archives, cancel, abort and rerun."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse

from podium_api.archive import CHUNK, archive_chunks
from podium_api.deps import ControlDep, LogsDep, StorageDep, UserDep
from podium_api.errors import Conflict, InvalidTransition, NotFound
from podium_api.lookups import project_or_404, run_or_404
from podium_api.permissions import operation
from podium_api.security import Principal
from podium_model import Page, Run, RunDetail, RunFilter, RunSource, RunStatus, RunUpdate, new_id
from podium_model.artifacts import ArtifactList
from podium_model.limits import ARTIFACT_PATH_BYTES, cut_parameters
from podium_model.runs import masked_run
from podium_storage.artifacts import ArtifactStore
from podium_storage.logs import LogStore
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
    """Runs of a project, newest first, filtered; pass `next_cursor` back as `cursor` for the next page.

    A parameter value longer than 1 KiB is cut in the page and its key listed in the run's
    `truncated_parameters`; the run's own document (`GET .../runs/{run}`) has it whole, and
    has the run's `steps` (`null` in a page).
    """
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
    page = await storage.list_runs(run_filter, limit=limit, cursor=cursor)
    return Page[Run](items=[_listed(run) for run in page.items], next_cursor=page.next_cursor)


def _listed(run: Run) -> Run:
    """The run as a page shows it: secret values masked, values over `LISTED_PARAMETER_BYTES` cut and
    named, and no steps (`null`: the run's own document has them)."""
    run = masked_run(run)
    parameters, cut = cut_parameters(run.parameters)
    if cut:
        return run.model_copy(update={"parameters": parameters, "truncated_parameters": cut, "steps": None})
    return run.model_copy(update={"steps": None})


@router.get("/{run}", response_model=RunDetail, responses=_NOT_FOUND, **operation("getRun", summary="Get a run"))
async def get_run(project: str, run: str, storage: StorageDep) -> RunDetail:
    """One run, with its steps (one per command run) and, for a pipeline run, its elements' graph."""
    return masked_run(await run_detail(storage, await run_or_404(storage, project, run)))


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
    """The log's bytes from byte `offset` (at most `limit`); `X-Podium-Log-Offset` is where the next read starts.

    Streamed from the store a chunk at a time: a long read holds one chunk, not `limit` bytes.
    """
    found = await run_or_404(storage, project, run)
    size = max(0, min(limit, await logs.size(found.project, found.id) - offset))
    headers = {"X-Podium-Log-Offset": str(offset + size), "X-Podium-Run-Status": found.status.value}
    if size <= CHUNK:  # the usual case (a follower's next bytes): one read, one body
        data = await logs.read(found.project, found.id, offset, size)
        return Response(data, media_type="text/plain; charset=utf-8", headers=headers)
    return StreamingResponse(
        _log_chunks(logs, found, offset, size), media_type="text/plain; charset=utf-8", headers=headers
    )


async def _log_chunks(logs: LogStore, run: Run, offset: int, size: int) -> AsyncIterator[bytes]:
    """`size` bytes of the run's log from `offset`, `CHUNK` at a time (fewer if retention removed it meanwhile)."""
    end = offset + size
    while offset < end:
        piece = await logs.read(run.project, run.id, offset, min(CHUNK, end - offset))
        if not piece:
            return
        offset += len(piece)
        yield piece


@router.get(
    "/{run}/results",
    response_model=dict[str, Any],
    responses=_NOT_FOUND,
    **operation("getRunResults", summary="Get a run's results"),
)
async def get_run_results(project: str, run: str, storage: StorageDep) -> dict[str, Any]:
    """The JSON results the run's commands wrote."""
    return (await run_or_404(storage, project, run)).results


@router.get(
    "/{run}/archive",
    response_class=Response,
    responses={
        200: {
            "content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}}},
            "description": "run.json, log.txt, results.json",
        }
    },
    **operation("getRunArchive", summary="Download a run's archive"),
)
async def get_run_archive(project: str, run: str, storage: StorageDep, logs: LogsDep) -> Response:
    """A `.tar.gz` holding the run as JSON, its log and its results, streamed as it is made."""
    found = await run_or_404(storage, project, run)
    return StreamingResponse(
        archive_chunks(masked_run(found), logs),
        media_type="application/gzip",
        headers={"Content-Disposition": f'attachment; filename="{found.project}-{found.id}.tar.gz"'},
    )


@router.get(
    "/{run}/artifacts",
    response_model=ArtifactList,
    responses=_NOT_FOUND,
    **operation("listRunArtifacts", summary="List a run's artifacts"),
)
async def list_run_artifacts(project: str, run: str, storage: StorageDep, logs: LogsDep) -> ArtifactList:
    """The files the run kept (`definition.artifacts`), with size and SHA-256; empty until the run ended."""
    found = await run_or_404(storage, project, run)
    return ArtifactList(items=await asyncio.to_thread(ArtifactStore(logs).manifest, found.project, found.id))


@router.get(
    "/{run}/artifacts/{path:path}",
    response_class=Response,
    responses={
        200: {
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The artifact's bytes (ranges accepted); `X-Podium-Artifact-Sha256` is its checksum",
        },
        **_NOT_FOUND,
    },
    **operation("getRunArtifact", summary="Download one artifact of a run"),
)
async def get_run_artifact(
    project: str,
    run: str,
    path: Annotated[str, Path(max_length=ARTIFACT_PATH_BYTES)],
    storage: StorageDep,
    logs: LogsDep,
) -> Response:
    """One artifact, by its path in the workspace, always as an attachment of type `application/octet-stream`
    (an HTML artifact is never rendered as a page of the api's origin)."""
    found = await run_or_404(storage, project, run)
    store = ArtifactStore(logs)
    listed = {artifact.path: artifact for artifact in await asyncio.to_thread(store.manifest, found.project, found.id)}
    artifact = listed.get(path)
    stored = store.file(found.project, found.id, path) if artifact is not None else None
    if artifact is None or stored is None or not await asyncio.to_thread(stored.is_file):
        raise NotFound(f"run {run!r} has no artifact {path!r}")  # or retention removed it just now
    return FileResponse(
        stored,
        media_type="application/octet-stream",
        filename=artifact.path.rsplit("/", 1)[-1],
        headers={"X-Podium-Artifact-Sha256": artifact.sha256},
    )


@router.post(
    "/{run}/cancel",
    response_model=Run,
    responses={
        202: {
            "model": Run,
            "description": "The master did not answer: the run stays pending, `should_cancel` "
            "set, and the master cancels it at its next dispatch pass",
        },
        **_NOT_FOUND,
        **_CONFLICT,
    },
    **operation("cancelRun", summary="Cancel a pending run"),
)
async def cancel_run(
    project: str, run: str, principal: UserDep, storage: StorageDep, master: ControlDep
) -> Run | JSONResponse:
    """Cancel a run no worker has started yet; 409 once it runs or has ended.

    One path for every cancellation: the run's `should_cancel` is written first (so the intent
    survives a master that is away), then the master moves it to `cancelled` through its
    lifecycle, which publishes the change and counts it like any other final status.
    """
    found = await run_or_404(storage, project, run)
    flag = RunUpdate(should_cancel=True, reason=f"cancelled by {principal.id}")
    flagged = await storage.transition_run(found.id, [RunStatus.pending], RunStatus.pending, flag)
    if flagged is None:
        current = await run_or_404(storage, project, run)
        raise _not_pending(current)
    answer = await master.cancel(found.id)
    if answer is None:
        logger.info("run %s: cancel by %s recorded, the master acts on it later", run, principal.id)
        return JSONResponse(masked_run(flagged).model_dump(mode="json"), status_code=202)
    if answer.run is None:  # a worker took it meanwhile
        raise _not_pending(await run_or_404(storage, project, run))
    logger.info("run %s cancelled by %s", run, principal.id)
    return masked_run(answer.run)


def _not_pending(current: Run) -> InvalidTransition:
    return InvalidTransition(
        f"run {current.id} is {current.status}; only a pending run can be cancelled", run_status=current.status.value
    )


@router.post(
    "/{run}/abort",
    response_model=Run,
    responses={**_NOT_FOUND, **_CONFLICT},
    **operation("abortRun", summary="Abort a running run"),
)
async def abort_run(project: str, run: str, principal: UserDep, storage: StorageDep, master: ControlDep) -> Run:
    """Ask the worker to stop a running run; it ends `aborted`. 409 unless the run is running."""
    found = await run_or_404(storage, project, run)
    if found.status is not RunStatus.running:
        raise InvalidTransition(
            f"run {run} is {found.status}; only a running run can be aborted", run_status=found.status.value
        )
    updated = await storage.update_run(found.id, RunUpdate(should_abort=True, reason=f"aborted by {principal.id}"))
    logger.info("run %s abort requested by %s", run, principal.id)
    master.abort(found.id)
    return masked_run(updated or found)


def _rerun_source(principal: Principal, run: Run) -> RunSource:
    """A rerun records the run it repeats, and the user asking (a run token's caller has none)."""
    return RunSource(type="rerun", run=run.id, user=principal.id if principal.run_id is None else None)


@router.post(
    "/{run}/rerun",
    status_code=201,
    response_model=Run,
    responses={**_NOT_FOUND, 409: {"description": "The run's job is disabled or no longer exists"}},
    **operation("rerunRun", summary="Run again"),
)
async def rerun_run(project: str, run: str, principal: UserDep, storage: StorageDep, master: ControlDep) -> Run:
    """Start a new run of the run's job with its parameters as stored; it needs the right to trigger the job.

    The new run's `source` is `{"type": "rerun", "run": <this run>}`. The parameters are copied
    as they are stored, defaults included, secret ones still secret (answered masked), and not
    checked again: the job's declaration may have changed since, and a rerun repeats what ran
    (trigger the job to run it with new values). Its priority, concurrency key and a webhook
    run's body go with it.
    """
    found = await run_or_404(storage, project, run)
    job = await storage.get_job(project, found.job)
    if job is None:
        raise Conflict(f"job {found.job!r} of run {run} no longer exists in project {project!r}")
    if not job.is_enabled:
        raise Conflict(f"job {found.job!r} of project {project!r} is disabled")
    source, run_id = _rerun_source(principal, found), new_id()
    payload = await storage.get_run_payload(found.id)
    if payload is not None:  # a webhook run's body, stored before the run as `routes/hooks.py` does
        await storage.put_run_payload(run_id, payload)
    again = await storage.create_run(
        project, found.job, dict(found.parameters), source, run_id, found.secret_parameters,
        priority=found.priority, concurrency_key=found.concurrency_key,
    )  # fmt: skip
    logger.info("run %s of %s/%s reruns %s, by %s", again.id, project, found.job, run, principal.id)
    master.run_created()
    return masked_run(again)
