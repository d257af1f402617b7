"""Projects, jobs and schedules in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, delete, or_, select, update
from sqlalchemy.orm import Session

from podium_model import Job, Project, Schedule, utcnow
from podium_model.config import JobConfig, ScheduleConfig
from podium_model.notifications import Notification
from podium_storage.sql import convert
from podium_storage.sql.session import SqlBase, table
from podium_storage.sql.tables import JobRow, ProjectRow, ScheduleRow

_projects = table(ProjectRow)
_jobs = table(JobRow)
_schedules = table(ScheduleRow)

# Built once (SQLAlchemy then keeps their cache keys): listings check their project on every
# request, and each trigger and each dispatch round reads a job.
_GET_PROJECT = select(_projects).where(_projects.c.id == bindparam("id"))
_GET_JOB = select(_jobs).where(_jobs.c.project == bindparam("project"), _jobs.c.id == bindparam("id"))


def _job_values(job: JobConfig) -> dict[str, Any]:
    return {
        "display_name": job.display_name,
        "description": job.description,
        "definition": job.definition.model_dump(mode="json"),
        "parameters": [parameter.model_dump(mode="json") for parameter in job.parameters],
        "properties": dict(job.properties),
        "triggers": [trigger.model_dump(mode="json") for trigger in job.triggers],
        "priority": job.priority,
    }


def _schedule_values(schedule: ScheduleConfig) -> dict[str, Any]:
    return {
        "display_name": schedule.display_name,
        "job": schedule.job,
        "parameters": dict(schedule.parameters),
        "expression": schedule.expression,
    }


def _assign(row: Any, values: dict[str, Any], now: datetime) -> None:
    """Write the values that differ into `row`; bump `updated_at` only if something changed."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    if changed:
        row.updated_at = now


class CatalogStore(SqlBase):
    """The project, job and schedule methods of `SqlStorage`."""

    # Projects ---------------------------------------------------------------------------------

    async def put_project(
        self,
        id: str,
        display_name: str = "",
        services: dict[str, object] | None = None,
        notifications: Sequence[Notification] = (),
    ) -> Project:
        """Create or update a project (its notifications replaced by `notifications`)."""
        now = utcnow()
        values: dict[str, Any] = {
            "display_name": display_name,
            "services": dict(services or {}),
            "notifications": [notification.model_dump(mode="json") for notification in notifications],
        }

        def put(session: Session) -> Project:
            row = session.get(ProjectRow, id)
            if row is None:
                row = ProjectRow(id=id, created_at=now, updated_at=now, **values)
                session.add(row)
            else:
                _assign(row, values, now)
            return convert.project(row)

        return await self._orm(put)

    async def get_project(self, id: str) -> Project | None:
        """One project."""
        row = await self._reading(lambda connection: connection.execute(_GET_PROJECT, {"id": id}).first())
        return None if row is None else convert.project(row)

    async def list_projects(self) -> list[Project]:
        """Every project, by id."""
        rows = await self._reading(
            lambda connection: connection.execute(select(_projects).order_by(_projects.c.id)).all()
        )
        return [convert.project(row) for row in rows]

    async def delete_project(self, id: str) -> bool:
        """Delete a project with its jobs, schedules, grants and secrets (runs stay readable); False if unknown."""
        return await self._deleted(delete(_projects).where(_projects.c.id == id))

    # Jobs -------------------------------------------------------------------------------------

    async def put_job(self, project: str, job: JobConfig) -> Job:
        """Create or update a job from its configuration; `is_enabled` of an existing job is kept.

        Raises:
            StorageError: the project is unknown.
        """
        now = utcnow()
        values = _job_values(job)

        def put(session: Session) -> Job:
            row = session.get(JobRow, (project, job.id))
            if row is None:
                row = JobRow(project=project, id=job.id, is_enabled=True, created_at=now, updated_at=now, **values)
                session.add(row)
            else:
                _assign(row, values, now)
            return convert.job(row)

        return await self._orm(put)

    async def get_job(self, project: str, id: str) -> Job | None:
        """One job."""
        row = await self._reading(
            lambda connection: connection.execute(_GET_JOB, {"project": project, "id": id}).first()
        )
        return None if row is None else convert.job(row)

    async def list_jobs(self, project: str | None = None) -> list[Job]:
        """Jobs of a project (or all), by project and id."""
        query = select(_jobs).order_by(_jobs.c.project, _jobs.c.id)
        if project is not None:
            query = query.where(_jobs.c.project == project)
        rows = await self._reading(lambda connection: connection.execute(query).all())
        return [convert.job(row) for row in rows]

    async def delete_job(self, project: str, id: str) -> bool:
        """Delete a job and its schedules (its runs stay readable); False if unknown."""
        return await self._deleted(delete(_jobs).where(_jobs.c.project == project, _jobs.c.id == id))

    async def set_job_enabled(self, project: str, id: str, enabled: bool) -> Job | None:
        """Enable or disable a job; None if unknown."""
        query = (
            update(_jobs)
            .where(_jobs.c.project == project, _jobs.c.id == id)
            .values(is_enabled=enabled, updated_at=utcnow())
            .returning(*_jobs.c)
        )
        row = await self._writing(lambda connection: connection.execute(query).first())
        return None if row is None else convert.job(row)

    # Schedules --------------------------------------------------------------------------------

    async def put_schedule(self, project: str, schedule: ScheduleConfig) -> Schedule:
        """Create or update a schedule; `is_enabled`, `last_run` of an existing one are kept.

        Raises:
            StorageError: the project or the job is unknown.
        """
        now = utcnow()
        values = _schedule_values(schedule)

        def put(session: Session) -> Schedule:
            row = session.get(ScheduleRow, (project, schedule.id))
            if row is None:
                row = ScheduleRow(
                    project=project,
                    id=schedule.id,
                    is_enabled=schedule.is_enabled,
                    created_at=now,
                    updated_at=now,
                    **values,
                )
                session.add(row)
            else:
                _assign(row, values, now)
            return convert.schedule(row)

        return await self._orm(put)

    async def get_schedule(self, project: str, id: str) -> Schedule | None:
        """One schedule."""
        query = select(_schedules).where(_schedules.c.project == project, _schedules.c.id == id)
        row = await self._reading(lambda connection: connection.execute(query).first())
        return None if row is None else convert.schedule(row)

    async def list_schedules(self, project: str | None = None) -> list[Schedule]:
        """Schedules of a project (or all), by project and id."""
        query = select(_schedules).order_by(_schedules.c.project, _schedules.c.id)
        if project is not None:
            query = query.where(_schedules.c.project == project)
        rows = await self._reading(lambda connection: connection.execute(query).all())
        return [convert.schedule(row) for row in rows]

    async def delete_schedule(self, project: str, id: str) -> bool:
        """Delete a schedule; False if unknown."""
        query = delete(_schedules).where(_schedules.c.project == project, _schedules.c.id == id)
        return await self._deleted(query)

    async def set_schedule_enabled(self, project: str, id: str, enabled: bool) -> Schedule | None:
        """Enable or disable a schedule; None if unknown."""
        query = (
            update(_schedules)
            .where(_schedules.c.project == project, _schedules.c.id == id)
            .values(is_enabled=enabled, updated_at=utcnow())
            .returning(*_schedules.c)
        )
        row = await self._writing(lambda connection: connection.execute(query).first())
        return None if row is None else convert.schedule(row)

    async def set_schedule_fired(self, project: str, id: str, run_id: str | None, fired_at: datetime) -> None:
        """Record that a schedule fired at `fired_at`, starting `run_id` (None: skipped)."""
        fired = _schedules.c.last_fired_at
        later = case((or_(fired.is_(None), fired < fired_at), fired_at), else_=fired)  # never back
        values: dict[str, Any] = {"last_fired_at": later, "updated_at": utcnow()}
        if run_id is not None:
            values["last_run"] = run_id
        query = update(_schedules).where(_schedules.c.project == project, _schedules.c.id == id).values(**values)
        await self._writing(lambda connection: connection.execute(query))

    async def claim_schedule_tick(self, project: str, id: str, tick: datetime) -> bool:
        """Record `tick` as fired if it is later than the recorded one; True for the one caller that did."""
        fired = _schedules.c.last_fired_at
        query = (
            update(_schedules)
            .where(_schedules.c.project == project, _schedules.c.id == id, or_(fired.is_(None), fired < tick))
            .values(last_fired_at=tick, updated_at=utcnow())
        )
        return await self._writing(lambda connection: connection.execute(query).rowcount == 1)
