"""`/projects/{project}/schedules`: cron schedules and enabling them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter

from podium_api.deps import StorageDep
from podium_api.lookups import project_or_404, schedule_or_404
from podium_api.permissions import operation
from podium_model import Schedule, utcnow
from podium_model.schedules import next_fire

Responses = dict[int | str, dict[str, Any]]

router = APIRouter(prefix="/projects/{project}/schedules", tags=["schedules"])

_NOT_FOUND: Responses = {404: {"description": "No such project or schedule"}}


def _answered(schedule: Schedule, now: datetime) -> Schedule:
    """The schedule with `next_fire_at`: the master's own rule (`next_fire`), so the UI need not guess."""
    if not schedule.is_enabled:
        return schedule
    try:
        following = next_fire(schedule.expression, now)
    except ValueError:  # stored before apply checked expressions: it never fires
        return schedule
    return schedule.model_copy(update={"next_fire_at": following})


@router.get(
    "", response_model=list[Schedule], responses=_NOT_FOUND, **operation("listSchedules", summary="List schedules")
)
async def list_schedules(project: str, storage: StorageDep) -> list[Schedule]:
    """The schedules of a project, by id."""
    await project_or_404(storage, project)
    now = utcnow()
    return [_answered(schedule, now) for schedule in await storage.list_schedules(project)]


@router.get(
    "/{schedule}", response_model=Schedule, responses=_NOT_FOUND, **operation("getSchedule", summary="Get a schedule")
)
async def get_schedule(project: str, schedule: str, storage: StorageDep) -> Schedule:
    """One schedule."""
    return _answered(await schedule_or_404(storage, project, schedule), utcnow())


async def _set_enabled(storage: StorageDep, project: str, schedule: str, enabled: bool) -> Schedule:
    await schedule_or_404(storage, project, schedule)
    updated = await storage.set_schedule_enabled(project, schedule, enabled)
    return _answered(updated if updated is not None else await schedule_or_404(storage, project, schedule), utcnow())


@router.post(
    "/{schedule}/enable", response_model=Schedule, responses=_NOT_FOUND, **operation("enableSchedule", summary="Enable")
)
async def enable_schedule(project: str, schedule: str, storage: StorageDep) -> Schedule:
    """Enable a schedule: it fires again at its next time."""
    return await _set_enabled(storage, project, schedule, True)


@router.post(
    "/{schedule}/disable",
    response_model=Schedule,
    responses=_NOT_FOUND,
    **operation("disableSchedule", summary="Disable"),
)
async def disable_schedule(project: str, schedule: str, storage: StorageDep) -> Schedule:
    """Disable a schedule: it no longer fires."""
    return await _set_enabled(storage, project, schedule, False)
