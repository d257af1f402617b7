"""Backup and retention in MongoDB: documents inserted exactly as given, credentials with their
hashes, and the deletion of final runs in batches.

Each document has the shape the other stores write (free-form maps as JSON text, dates cut to
the millisecond), so what is imported reads back like anything created here.
"""

from __future__ import annotations

from collections.abc import Collection

from pymongo.asynchronous.collection import AsyncCollection

from podium_model import FINAL_STATUSES, Job, Project, Run, Schedule, User, Worker
from podium_model.access import Grant, Group
from podium_model.users import role_names
from podium_storage.interface import CredentialRecord, StorageError
from podium_storage.mongo.base import Document, MongoBase, dump, key, ms, translate_errors

DELETE_CHUNK = 500
"""The most run ids one `delete_many` names."""

_DATES = ("created_at", "updated_at", "assigned_at", "started_at", "completed_at", "last_seen", "last_fired_at")


def _dated(document: Document) -> Document:
    """`document` with its dates cut to the millisecond."""
    return {name: ms(value) if name in _DATES else value for name, value in document.items()}


class BackupStore(MongoBase):
    """The backup and retention methods of `MongoStorage`."""

    async def _insert(self, collection: AsyncCollection[Document], document: Document) -> None:
        """Insert one document; a taken `_id` raises `AlreadyExists`."""
        with translate_errors():
            await collection.insert_one(_dated(document))

    async def _require(self, collection: AsyncCollection[Document], id: str, what: str) -> None:
        """Raise `StorageError` unless the document `id` exists."""
        with translate_errors():
            if await collection.find_one({"_id": id}, {"_id": 1}) is None:
                raise StorageError(f"unknown {what} {id!r}")

    async def import_project(self, project: Project) -> None:
        """Store a project as is."""
        document = project.model_dump(exclude={"id"})
        document["services"] = dump(project.services)
        document["notifications"] = dump([n.model_dump(mode="json") for n in project.notifications])
        await self._insert(self._db.projects, {"_id": project.id, **document})

    async def import_job(self, job: Job) -> None:
        """Store a job as is."""
        await self._require(self._db.projects, job.project, "project")
        document = job.model_dump()
        document["definition"] = dump(job.definition.model_dump(mode="json"))
        document["parameters"] = dump([parameter.model_dump(mode="json") for parameter in job.parameters])
        document["properties"] = dump(job.properties)
        document["triggers"] = dump([trigger.model_dump(mode="json") for trigger in job.triggers])
        await self._insert(self._db.jobs, {"_id": key(job.project, job.id), **document})

    async def import_schedule(self, schedule: Schedule) -> None:
        """Store a schedule as is."""
        await self._require(self._db.jobs, key(schedule.project, schedule.job), "job")
        document = schedule.model_dump(exclude={"next_fire_at"})  # computed, never stored
        document["parameters"] = dump(schedule.parameters)
        await self._insert(self._db.schedules, {"_id": key(schedule.project, schedule.id), **document})

    async def import_user(self, user: User) -> None:
        """Store a user as is."""
        document = user.model_dump(exclude={"id"})
        document["roles"] = role_names(user.roles)
        await self._insert(self._db.users, {"_id": user.id, **document})

    async def import_group(self, group: Group) -> None:
        """Store a group as is, members included."""
        for member in group.members:
            await self._require(self._db.users, member, "user")
        await self._insert(self._db.groups, {"_id": group.id, **group.model_dump(exclude={"id"})})

    async def import_grant(self, grant: Grant) -> None:
        """Store a grant as is."""
        await self._require(self._db.projects, grant.project, "project")
        document = {**grant.model_dump(), "role": grant.role.value}
        await self._insert(self._db.grants, {"_id": f"{grant.project}/{grant.kind}/{grant.name}", **document})

    async def import_worker(self, worker: Worker) -> None:
        """Store a worker as is."""
        document = worker.model_dump(exclude={"id"})
        document["properties"] = dump(worker.properties)
        await self._insert(self._db.workers, {"_id": worker.id, **document})

    async def export_credentials(self) -> list[CredentialRecord]:
        """Every credential with its secret hash, by user and id."""
        with translate_errors():
            cursor = self._db.credentials.find().sort([("user", 1), ("_id", 1)])
            documents = [document async for document in cursor]
        return [
            CredentialRecord(
                id=document["_id"],
                user=document["user"],
                kind=document["kind"],
                description=document.get("description", ""),
                expires_at=document.get("expires_at"),
                created_at=document["created_at"],
                secret_hash=document["secret_hash"],
                projects=document.get("projects"),
                operations=document.get("operations"),
            )
            for document in documents
        ]

    async def import_credential(self, credential: CredentialRecord) -> None:
        """Store a credential as is."""
        await self._require(self._db.users, credential.user, "user")
        document = credential.model_dump(exclude={"id"})
        await self._insert(self._db.credentials, {"_id": credential.id, **document})

    async def import_run(self, run: Run) -> None:
        """Store a run as is."""
        document = run.model_dump(exclude={"id", "pipeline", "truncated_parameters"})  # computed, never stored
        document["parameters"] = dump(run.parameters)
        document["source"] = run.source.model_dump(mode="json", exclude_none=True)
        document["status"] = run.status.value
        document["results"] = dump(run.results)
        document["steps"] = run.model_dump(mode="json", include={"steps"})["steps"] or []
        await self._insert(self._db.runs, {"_id": run.id, **document})

    async def delete_runs(self, run_ids: Collection[str]) -> int:
        """Delete the runs among `run_ids` that are in a final status; the count deleted."""
        ids = list(dict.fromkeys(run_ids))
        final = [status.value for status in FINAL_STATUSES]
        deleted = 0
        for start in range(0, len(ids), DELETE_CHUNK):
            chunk = ids[start : start + DELETE_CHUNK]
            with translate_errors():
                result = await self._db.runs.delete_many({"_id": {"$in": chunk}, "status": {"$in": final}})
                # The payloads of the runs now gone (a run kept, not final, keeps its own).
                kept = [d["_id"] async for d in self._db.runs.find({"_id": {"$in": chunk}}, {"_id": 1})]
                gone = sorted(set(chunk) - set(kept))
                await self._db.payloads.delete_many({"_id": {"$in": gone}})
                await self._db.deliveries.delete_many({"run": {"$in": gone}})
            deleted += result.deleted_count
        return deleted
