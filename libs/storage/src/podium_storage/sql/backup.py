"""Backup and retention in SQL: entities inserted exactly as given, credentials with their hashes,
and the deletion of final runs in batches."""

from __future__ import annotations

import functools
from collections.abc import Collection
from typing import Any

from sqlalchemy import Table, delete, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Executable

from podium_model import FINAL_STATUSES, Job, Project, Run, Schedule, User, Worker
from podium_model.access import Grant, Group
from podium_model.users import role_names
from podium_storage.interface import CredentialRecord
from podium_storage.sql.session import SqlBase, table
from podium_storage.sql.tables import (
    CredentialRow,
    DeliveryRow,
    GrantRow,
    GroupMemberRow,
    GroupRow,
    JobRow,
    ProjectRow,
    RunPayloadRow,
    RunRow,
    ScheduleRow,
    UserRow,
    WorkerRow,
)

_credentials = table(CredentialRow)
_runs = table(RunRow)
_payloads = table(RunPayloadRow)
_deliveries = table(DeliveryRow)

DELETE_CHUNK = 500


"""The most run ids one `DELETE` statement names."""


class BackupStore(SqlBase):
    """The backup and retention methods of `SqlStorage`."""

    async def _insert(self, target: Table, values: dict[str, Any]) -> None:
        """Insert one row; a taken key raises `AlreadyExists`, a missing parent `StorageError`."""
        statement = target.insert().values(**values)
        await self._writing(lambda connection: connection.execute(statement))

    async def import_project(self, project: Project) -> None:
        """Store a project as is."""
        values = project.model_dump()
        values["notifications"] = [notification.model_dump(mode="json") for notification in project.notifications]
        await self._insert(table(ProjectRow), values)

    async def import_job(self, job: Job) -> None:
        """Store a job as is."""
        values = job.model_dump()
        values["definition"] = job.definition.model_dump(mode="json")
        values["parameters"] = [parameter.model_dump(mode="json") for parameter in job.parameters]
        values["triggers"] = [trigger.model_dump(mode="json") for trigger in job.triggers]
        await self._insert(table(JobRow), values)

    async def import_schedule(self, schedule: Schedule) -> None:
        """Store a schedule as is."""
        await self._insert(table(ScheduleRow), schedule.model_dump(exclude={"next_fire_at"}))  # computed, never stored

    async def import_user(self, user: User) -> None:
        """Store a user as is."""
        values = user.model_dump()
        values["roles"] = role_names(user.roles)
        await self._insert(table(UserRow), values)

    async def import_group(self, group: Group) -> None:
        """Store a group as is, members included (in one transaction)."""
        values = group.model_dump(exclude={"members"})
        rows = [{"group_id": group.id, "user_id": member} for member in group.members]

        def insert(connection: Connection) -> None:
            connection.execute(table(GroupRow).insert().values(**values))
            if rows:
                connection.execute(table(GroupMemberRow).insert(), rows)

        await self._writing(insert)

    async def import_grant(self, grant: Grant) -> None:
        """Store a grant as is."""
        await self._insert(table(GrantRow), {**grant.model_dump(), "role": grant.role.value})

    async def import_worker(self, worker: Worker) -> None:
        """Store a worker as is."""
        await self._insert(table(WorkerRow), worker.model_dump())

    async def export_credentials(self) -> list[CredentialRecord]:
        """Every credential with its secret hash, by user and id."""
        query = select(_credentials).order_by(_credentials.c.user_id, _credentials.c.id)
        rows = await self._reading(lambda connection: connection.execute(query).all())
        return [
            CredentialRecord(
                id=row.id,
                user=row.user_id,
                kind=row.kind,
                description=row.description,
                expires_at=row.expires_at,
                created_at=row.created_at,
                secret_hash=row.secret_hash,
                projects=row.projects,
                operations=row.operations,
            )
            for row in rows
        ]

    async def import_credential(self, credential: CredentialRecord) -> None:
        """Store a credential as is."""
        values = credential.model_dump()
        values["user_id"] = values.pop("user")
        await self._insert(_credentials, values)

    async def import_run(self, run: Run) -> None:
        """Store a run as is."""
        values = run.model_dump()
        values["source"] = run.source.model_dump(mode="json", exclude_none=True)
        values["source_type"] = run.source.type
        values["status"] = run.status.value
        values["steps"] = run.model_dump(mode="json", include={"steps"})["steps"] or None
        await self._insert(_runs, {name: value for name, value in values.items() if name in _runs.c})

    async def delete_runs(self, run_ids: Collection[str]) -> int:
        """Delete the runs among `run_ids` that are in a final status; the count deleted."""
        ids = list(dict.fromkeys(run_ids))
        final = [status.value for status in FINAL_STATUSES]
        deleted = 0
        for start in range(0, len(ids), DELETE_CHUNK):
            chunk = ids[start : start + DELETE_CHUNK]
            query = delete(_runs).where(_runs.c.id.in_(chunk), _runs.c.status.in_(final))
            # Their payloads and deliveries first, in the same transaction (a run not final keeps its own).
            ended = select(_runs.c.id).where(_runs.c.id.in_(chunk), _runs.c.status.in_(final))
            payloads = delete(_payloads).where(_payloads.c.run_id.in_(ended))
            deliveries = delete(_deliveries).where(_deliveries.c.run_id.in_(ended))
            deleted += await self._writing(functools.partial(_count_last, [payloads, deliveries, query]))
        return deleted


def _count_last(statements: list[Executable], connection: Connection) -> int:
    """Run DELETEs in one transaction; how many rows the last one removed."""
    for statement in statements[:-1]:
        connection.execute(statement)
    return int(connection.execute(statements[-1]).rowcount)
