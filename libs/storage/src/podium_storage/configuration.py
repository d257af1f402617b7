"""Configuration as code: make the stored projects, jobs and schedules match a file.

`apply_configuration` creates or updates what the file names and removes the jobs and
schedules of the named projects that the file no longer names (their runs stay readable).
A project carrying `access` gets exactly those grants; one without keeps its grants.
Projects the file does not name are left alone. A job naming a secret its project lacks
(`definition.secrets`, a trigger's or a notification's `secret`) refuses the whole file before anything is written.
Each write is its own transaction: a failure half-way leaves what was applied so far, and
applying again completes it.
"""

from __future__ import annotations

import logging
from typing import Any

from podium_model import CommandsDefinition, Job, Project, Schedule
from podium_model.access import GranteeKind, ProjectAccess, ProjectRole
from podium_model.config import Change, Configuration, ConfigurationError, JobConfig, ProjectConfig, ScheduleConfig
from podium_storage.interface import Storage

logger = logging.getLogger(__name__)

_JOB_FIELDS = set(JobConfig.model_fields)
# `is_enabled` of a schedule is state once it exists: configuration sets it only on creation.
_SCHEDULE_FIELDS = set(ScheduleConfig.model_fields) - {"is_enabled"}


def _job_differs(stored: Job, wanted: JobConfig) -> bool:
    return stored.model_dump(include=_JOB_FIELDS) != wanted.model_dump(include=_JOB_FIELDS)


def _schedule_differs(stored: Schedule, wanted: ScheduleConfig) -> bool:
    return stored.model_dump(include=_SCHEDULE_FIELDS) != wanted.model_dump(include=_SCHEDULE_FIELDS)


def _project_differs(stored: Project, wanted: ProjectConfig) -> bool:
    return (
        stored.display_name != wanted.display_name
        or stored.services != wanted.services
        or stored.notifications != wanted.notifications
    )


async def apply_configuration(storage: Storage, configuration: Configuration, dry_run: bool = False) -> list[Change]:
    """Make storage match `configuration`; return the changes (only real ones), in order.

    Args:
        storage: where to write.
        configuration: the validated configuration file.
        dry_run: compute the same changes without writing anything.

    Raises:
        ConfigurationError: a job names a secret its project does not hold (nothing is written).
    """
    await _check_secrets(storage, configuration)
    changes: list[Change] = []
    for project in configuration.projects:
        changes.extend(await _apply_project(storage, project, dry_run))
    if changes and not dry_run:
        logger.info("configuration applied: %d changes", len(changes))
    return changes


async def _check_secrets(storage: Storage, configuration: Configuration) -> None:
    """Refuse a configuration whose jobs name secrets their projects lack, naming each one."""
    problems = []
    for project in configuration.projects:
        wanted = {
            f"job {project.id}/{job.id}": [
                *(job.definition.secrets if isinstance(job.definition, CommandsDefinition) else []),
                *(trigger.secret for trigger in job.triggers),
            ]
            for job in project.jobs
        }
        if project.notifications:
            wanted[f"the notifications of {project.id}"] = [n.secret for n in project.notifications]
        if not any(wanted.values()):
            continue  # most projects name no secret: no read
        held = {secret.name for secret in await storage.list_secrets(project.id)}
        for where, names in wanted.items():
            for name in names:
                if name not in held:
                    problems.append(
                        f"{where}: secret {name!r} does not exist in project {project.id!r} "
                        f"(set it first: podium secrets set {project.id} {name})"
                    )
    if problems:
        raise ConfigurationError("configuration", problems)


async def _apply_project(storage: Storage, wanted: ProjectConfig, dry_run: bool) -> list[Change]:
    changes: list[Change] = []
    pid = wanted.id

    def note(action: Any, kind: Any, id: str) -> None:
        changes.append(Change(action=action, kind=kind, project=pid, id=id))

    stored_project = await storage.get_project(pid)
    if stored_project is None or _project_differs(stored_project, wanted):
        note("create" if stored_project is None else "update", "project", pid)
        if not dry_run:
            await storage.put_project(pid, wanted.display_name, wanted.services, wanted.notifications)
    stored_jobs = {job.id: job for job in await storage.list_jobs(pid)} if stored_project else {}
    stored_schedules = {s.id: s for s in await storage.list_schedules(pid)} if stored_project else {}
    wanted_jobs = {job.id for job in wanted.jobs}
    wanted_schedules = {schedule.id for schedule in wanted.schedules}

    # Removals first: a schedule goes before its job (removing a job removes its schedules).
    for sid in sorted(set(stored_schedules) - wanted_schedules):
        note("delete", "schedule", sid)
        if not dry_run:
            await storage.delete_schedule(pid, sid)
    for jid in sorted(set(stored_jobs) - wanted_jobs):
        note("delete", "job", jid)
        if not dry_run:
            await storage.delete_job(pid, jid)
    for job in wanted.jobs:
        stored_job = stored_jobs.get(job.id)
        if stored_job is None or _job_differs(stored_job, job):
            note("create" if stored_job is None else "update", "job", job.id)
            if not dry_run:
                await storage.put_job(pid, job)
    for schedule in wanted.schedules:
        stored_schedule = stored_schedules.get(schedule.id)
        if stored_schedule is None or _schedule_differs(stored_schedule, schedule):
            note("create" if stored_schedule is None else "update", "schedule", schedule.id)
            if not dry_run:
                await storage.put_schedule(pid, schedule)
    if wanted.access is not None:
        exists = stored_project is not None
        changes.extend(await _apply_access(storage, pid, wanted.access, exists=exists, dry_run=dry_run))
    return changes


async def _apply_access(storage: Storage, pid: str, access: ProjectAccess, exists: bool, dry_run: bool) -> list[Change]:
    """Make the project's grants exactly `access` (revocations first)."""
    stored = {(grant.kind, grant.name): grant.role for grant in await storage.list_grants(pid)} if exists else {}
    wanted: dict[tuple[GranteeKind, str], ProjectRole] = {
        **{("group", name): role for name, role in access.groups.items()},
        **{("user", name): role for name, role in access.users.items()},
    }
    changes: list[Change] = []
    for kind, name in sorted(set(stored) - set(wanted)):
        changes.append(Change(action="delete", kind="grant", project=pid, id=f"{kind}:{name}"))
        if not dry_run:
            await storage.delete_grant(pid, kind, name)
    for (kind, name), role in sorted(wanted.items()):
        if stored.get((kind, name)) != role:
            action = "update" if (kind, name) in stored else "create"
            changes.append(Change(action=action, kind="grant", project=pid, id=f"{kind}:{name}"))
            if not dry_run:
                await storage.put_grant(pid, kind, name, role)
    return changes
