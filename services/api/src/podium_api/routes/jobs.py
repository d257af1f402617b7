"""`/projects/{project}/jobs`: jobs, enabling them, and triggering runs."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter

from podium_api.deps import ControlDep, StorageDep, UserDep
from podium_api.errors import Conflict, InvalidInput
from podium_api.lookups import job_or_404, project_or_404
from podium_api.permissions import operation
from podium_api.security import Principal
from podium_model import Job, Run, RunSource, RunTrigger, concurrency_key
from podium_model.limits import check_parameters
from podium_model.parameters import resolve, secret_keys
from podium_model.runs import masked_run

logger = logging.getLogger(__name__)

Responses = dict[int | str, dict[str, Any]]

router = APIRouter(prefix="/projects/{project}/jobs", tags=["jobs"])

_NOT_FOUND: Responses = {404: {"description": "No such project or job"}}


@router.get("", response_model=list[Job], responses=_NOT_FOUND, **operation("listJobs", summary="List jobs"))
async def list_jobs(project: str, storage: StorageDep) -> list[Job]:
    """The jobs of a project, by id."""
    await project_or_404(storage, project)
    return await storage.list_jobs(project)


@router.get("/{job}", response_model=Job, responses=_NOT_FOUND, **operation("getJob", summary="Get a job"))
async def get_job(project: str, job: str, storage: StorageDep) -> Job:
    """One job."""
    return await job_or_404(storage, project, job)


async def _set_enabled(storage: StorageDep, project: str, job: str, enabled: bool) -> Job:
    await job_or_404(storage, project, job)
    updated = await storage.set_job_enabled(project, job, enabled)
    if updated is None:
        await job_or_404(storage, project, job)  # deleted meanwhile: answer its 404
        raise AssertionError("unreachable")
    return updated


@router.post("/{job}/enable", response_model=Job, responses=_NOT_FOUND, **operation("enableJob", summary="Enable"))
async def enable_job(project: str, job: str, storage: StorageDep, master: ControlDep) -> Job:
    """Enable a job: its pending runs become dispatchable again."""
    updated = await _set_enabled(storage, project, job, True)
    master.dispatch()
    return updated


@router.post("/{job}/disable", response_model=Job, responses=_NOT_FOUND, **operation("disableJob", summary="Disable"))
async def disable_job(project: str, job: str, storage: StorageDep) -> Job:
    """Disable a job: it can no longer be triggered."""
    return await _set_enabled(storage, project, job, False)


def validate_parameters(job: Job, given: dict[str, str]) -> dict[str, str]:
    """The run's parameters: `given` checked against the job's declaration (types, choices,
    patterns; `podium_model.parameters`), in canonical form, defaults filled in.

    Optional parameters without a value get the empty string, so templates always resolve.

    Raises:
        InvalidInput: an unknown key, a required parameter missing (or ``""``), a value not of
            its type; `errors` lists each, `loc` naming the parameter; or the values with the
            defaults over the parameters limit.
    """
    values, problems = resolve(job.parameters, given, job.id)
    if problems:
        errors = [{"loc": ["body", "parameters", p.key], "msg": p.message, "type": p.kind} for p in problems]
        raise InvalidInput("; ".join(p.message for p in problems[:5]), errors=errors)
    try:
        check_parameters(values)  # the defaults count too: together they reach the worker
    except ValueError as exc:
        error = {"loc": ["body", "parameters"], "msg": str(exc), "type": "limit"}
        raise InvalidInput(str(exc), errors=[error]) from None
    return values


def _source(principal: Principal) -> RunSource:
    """A run token's trigger records the controller run; a user's records the user."""
    if principal.run_id is not None:
        return RunSource(type="api", run=principal.run_id, user=None)
    return RunSource(type="api", user=principal.id)


@router.post(
    "/{job}/runs",
    status_code=201,
    response_model=Run,
    responses={**_NOT_FOUND, 409: {"description": "The job is disabled"}, 422: {"description": "Bad parameters"}},
    **operation("triggerRun", summary="Trigger a run"),
)
async def trigger_run(
    project: str, job: str, body: RunTrigger, principal: UserDep, storage: StorageDep, master: ControlDep
) -> Run:
    """Start a run of the job with `parameters`; it is pending until a worker takes it."""
    found = await job_or_404(storage, project, job)
    if not found.is_enabled:
        raise Conflict(f"job {job!r} of project {project!r} is disabled")
    parameters = validate_parameters(found, body.parameters)
    priority = found.priority if body.priority is None else body.priority
    key = concurrency_key(found, parameters)
    secret = secret_keys(found.parameters)
    run = await storage.create_run(
        project, job, parameters, _source(principal), None, secret, priority=priority, concurrency_key=key
    )
    logger.info("run %s of %s/%s triggered by %s", run.id, project, job, principal.id)
    master.run_created()
    return masked_run(run)
