"""`/projects`: the namespaces of jobs, runs and schedules."""

from __future__ import annotations

from fastapi import APIRouter

from podium_api.deps import StorageDep, VisibilityDep
from podium_api.lookups import project_or_404
from podium_api.permissions import operation
from podium_model import Project

router = APIRouter(prefix="/projects", tags=["projects"])


@router.get("", response_model=list[Project], **operation("listProjects", summary="List projects"))
async def list_projects(storage: StorageDep, access: VisibilityDep) -> list[Project]:
    """The projects the caller may read, by id."""
    return [project for project in await storage.list_projects() if access.sees(project.id)]


@router.get(
    "/{project}",
    response_model=Project,
    responses={404: {"description": "No such project"}},
    **operation("getProject", summary="Get a project"),
)
async def get_project(project: str, storage: StorageDep) -> Project:
    """One project."""
    return await project_or_404(storage, project)
