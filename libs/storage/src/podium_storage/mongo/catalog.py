"""Projects, jobs and schedules in MongoDB.

A job or schedule document's `_id` is `project/id`; its `project` and `id` fields serve the
sorted listings. Deleting a project deletes its jobs, schedules and secrets; runs stay readable.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from podium_model import Job, Project, Schedule
from podium_model.config import JobConfig, ScheduleConfig
from podium_model.notifications import Notification
from podium_storage.interface import StorageError
from podium_storage.mongo import convert
from podium_storage.mongo.base import Document, MongoBase, dump, key, ms, now_ms, translate_errors


def _job_values(job: JobConfig) -> Document:
    return {
        "display_name": job.display_name,
        "description": job.description,
        "definition": dump(job.definition.model_dump(mode="json")),
        "parameters": dump([parameter.model_dump(mode="json") for parameter in job.parameters]),
        "properties": dump(dict(job.properties)),
        "triggers": dump([trigger.model_dump(mode="json") for trigger in job.triggers]),
        "priority": job.priority,
    }


def _schedule_values(schedule: ScheduleConfig) -> Document:
    return {
        "display_name": schedule.display_name,
        "job": schedule.job,
        "parameters": dump(dict(schedule.parameters)),
        "expression": schedule.expression,
    }


async def _put(collection: AsyncCollection[Document], id: str, values: Document, on_insert: Document) -> Document:
    """Insert the document `id`, or write the `values` that differ (bumping `updated_at` only then).

    Fields of `on_insert` are written only when the document is new, so an update keeps them.
    """
    now = now_ms()
    existing = await collection.find_one({"_id": id})
    if existing is None:
        document = {"_id": id, **on_insert, **values, "created_at": now, "updated_at": now}
        try:
            await collection.insert_one(document)
            return document
        except DuplicateKeyError:  # created meanwhile by another caller: update it instead
            existing = await collection.find_one({"_id": id})
            if existing is None:
                raise StorageError(f"{collection.name} {id!r} changed concurrently; retry") from None
    changed = {name: value for name, value in values.items() if existing.get(name) != value}
    if not changed:
        return existing
    updated = await collection.find_one_and_update(
        {"_id": id}, {"$set": {**changed, "updated_at": now}}, return_document=ReturnDocument.AFTER
    )
    return updated if updated is not None else {**existing, **changed, "updated_at": now}


class CatalogStore(MongoBase):
    """The project, job and schedule methods of `MongoStorage`."""

    # Projects ---------------------------------------------------------------------------------

    async def put_project(
        self,
        id: str,
        display_name: str = "",
        services: dict[str, object] | None = None,
        notifications: Sequence[Notification] = (),
    ) -> Project:
        """Create or update a project (its notifications replaced by `notifications`)."""
        values = {
            "display_name": display_name,
            "services": dump(dict(services or {})),
            "notifications": dump([notification.model_dump(mode="json") for notification in notifications]),
        }
        with translate_errors():
            return convert.project(await _put(self._db.projects, id, values, {}))

    async def get_project(self, id: str) -> Project | None:
        """One project."""
        with translate_errors():
            document = await self._db.projects.find_one({"_id": id})
        return None if document is None else convert.project(document)

    async def list_projects(self) -> list[Project]:
        """Every project, by id."""
        with translate_errors():
            return [convert.project(d) async for d in self._db.projects.find().sort("_id", 1)]

    async def delete_project(self, id: str) -> bool:
        """Delete a project with its jobs, schedules, grants and secrets (runs stay readable); False if unknown."""
        with translate_errors():
            result = await self._db.projects.delete_one({"_id": id})
            await self._db.jobs.delete_many({"project": id})
            await self._db.schedules.delete_many({"project": id})
            await self._db.grants.delete_many({"project": id})
            await self._db.secrets.delete_many({"project": id})
        return result.deleted_count > 0

    # Jobs -------------------------------------------------------------------------------------

    async def put_job(self, project: str, job: JobConfig) -> Job:
        """Create or update a job from its configuration; `is_enabled` of an existing job is kept.

        Raises:
            StorageError: the project is unknown.
        """
        with translate_errors():
            if await self._db.projects.find_one({"_id": project}, {"_id": 1}) is None:
                raise StorageError(f"unknown project {project!r}")
            on_insert = {"project": project, "id": job.id, "is_enabled": True}
            return convert.job(await _put(self._db.jobs, key(project, job.id), _job_values(job), on_insert))

    async def get_job(self, project: str, id: str) -> Job | None:
        """One job."""
        with translate_errors():
            document = await self._db.jobs.find_one({"_id": key(project, id)})
        return None if document is None else convert.job(document)

    async def list_jobs(self, project: str | None = None) -> list[Job]:
        """Jobs of a project (or all), by project and id."""
        query = {} if project is None else {"project": project}
        with translate_errors():
            return [convert.job(d) async for d in self._db.jobs.find(query).sort([("project", 1), ("id", 1)])]

    async def delete_job(self, project: str, id: str) -> bool:
        """Delete a job and its schedules (its runs stay readable); False if unknown."""
        with translate_errors():
            result = await self._db.jobs.delete_one({"_id": key(project, id)})
            if result.deleted_count:
                await self._db.schedules.delete_many({"project": project, "job": id})
        return result.deleted_count > 0

    async def set_job_enabled(self, project: str, id: str, enabled: bool) -> Job | None:
        """Enable or disable a job; None if unknown."""
        document = await self._set(self._db.jobs, key(project, id), {"is_enabled": enabled})
        return None if document is None else convert.job(document)

    # Schedules --------------------------------------------------------------------------------

    async def put_schedule(self, project: str, schedule: ScheduleConfig) -> Schedule:
        """Create or update a schedule; `is_enabled`, `last_run` of an existing one are kept.

        Raises:
            StorageError: the project or the job is unknown.
        """
        with translate_errors():
            if await self._db.jobs.find_one({"_id": key(project, schedule.job)}, {"_id": 1}) is None:
                raise StorageError(f"unknown job {schedule.job!r} in project {project!r}")
            on_insert: Document = {
                "project": project,
                "id": schedule.id,
                "is_enabled": schedule.is_enabled,
                "last_run": None,
                "last_fired_at": None,
            }
            document = await _put(self._db.schedules, key(project, schedule.id), _schedule_values(schedule), on_insert)
        return convert.schedule(document)

    async def get_schedule(self, project: str, id: str) -> Schedule | None:
        """One schedule."""
        with translate_errors():
            document = await self._db.schedules.find_one({"_id": key(project, id)})
        return None if document is None else convert.schedule(document)

    async def list_schedules(self, project: str | None = None) -> list[Schedule]:
        """Schedules of a project (or all), by project and id."""
        query = {} if project is None else {"project": project}
        with translate_errors():
            cursor = self._db.schedules.find(query).sort([("project", 1), ("id", 1)])
            return [convert.schedule(d) async for d in cursor]

    async def delete_schedule(self, project: str, id: str) -> bool:
        """Delete a schedule; False if unknown."""
        with translate_errors():
            result = await self._db.schedules.delete_one({"_id": key(project, id)})
        return result.deleted_count > 0

    async def set_schedule_enabled(self, project: str, id: str, enabled: bool) -> Schedule | None:
        """Enable or disable a schedule; None if unknown."""
        document = await self._set(self._db.schedules, key(project, id), {"is_enabled": enabled})
        return None if document is None else convert.schedule(document)

    async def set_schedule_fired(self, project: str, id: str, run_id: str | None, fired_at: datetime) -> None:
        """Record that a schedule fired at `fired_at`, starting `run_id` (None: skipped)."""
        values: Document = {"updated_at": now_ms()}
        if run_id is not None:
            values["last_run"] = run_id
        with translate_errors():  # $max: never back (null sorts before every date)
            await self._db.schedules.update_one(
                {"_id": key(project, id)}, {"$set": values, "$max": {"last_fired_at": ms(fired_at)}}
            )

    async def claim_schedule_tick(self, project: str, id: str, tick: datetime) -> bool:
        """Record `tick` as fired if it is later than the recorded one; True for the one caller that did."""
        earlier: list[Document] = [{"last_fired_at": None}, {"last_fired_at": {"$lt": ms(tick)}}]
        with translate_errors():
            result = await self._db.schedules.update_one(
                {"_id": key(project, id), "$or": earlier},
                {"$set": {"last_fired_at": ms(tick), "updated_at": now_ms()}},
            )
        return result.modified_count == 1
