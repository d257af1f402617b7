"""Fetch an entity or raise `NotFound`, so routes read as the happy path."""

from __future__ import annotations

from podium_api.errors import NotFound
from podium_model import Job, Project, Run, Schedule, User, Worker
from podium_storage.interface import Storage


async def project_or_404(storage: Storage, project: str) -> Project:
    """The project, or a 404."""
    found = await storage.get_project(project)
    if found is None:
        raise NotFound(f"project {project!r} does not exist")
    return found


async def job_or_404(storage: Storage, project: str, job: str) -> Job:
    """The job of a project, or a 404 naming what is missing."""
    found = await storage.get_job(project, job)
    if found is None:
        await project_or_404(storage, project)
        raise NotFound(f"job {job!r} does not exist in project {project!r}")
    return found


async def run_or_404(storage: Storage, project: str, run_id: str) -> Run:
    """The run, or a 404 when it is unknown or belongs to another project."""
    found = await storage.get_run(run_id) if len(run_id) <= 64 else None
    if found is None or found.project != project:
        raise NotFound(f"run {run_id!r} does not exist in project {project!r}")
    return found


async def schedule_or_404(storage: Storage, project: str, schedule: str) -> Schedule:
    """The schedule of a project, or a 404."""
    found = await storage.get_schedule(project, schedule)
    if found is None:
        raise NotFound(f"schedule {schedule!r} does not exist in project {project!r}")
    return found


async def worker_or_404(storage: Storage, worker: str) -> Worker:
    """The worker, or a 404."""
    found = await storage.get_worker(worker)
    if found is None:
        raise NotFound(f"worker {worker!r} does not exist")
    return found


async def user_or_404(storage: Storage, user: str) -> User:
    """The user, or a 404."""
    found = await storage.get_user(user)
    if found is None:
        raise NotFound(f"user {user!r} does not exist")
    return found
