"""Rows to `podium_model` objects, at the boundary of the SQL implementation."""

from __future__ import annotations

from typing import Any

from podium_model import Credential, Job, Project, Run, Schedule, User, Worker


def project(row: Any) -> Project:
    """A project row as a `Project`."""
    return Project.model_validate(
        {
            "id": row.id,
            "display_name": row.display_name,
            "services": row.services,
            "notifications": row.notifications,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }
    )


def job(row: Any) -> Job:
    """A job row as a `Job`."""
    return Job.model_validate(
        {
            "project": row.project,
            "id": row.id,
            "display_name": row.display_name,
            "description": row.description,
            "definition": row.definition,
            "parameters": row.parameters,
            "properties": row.properties,
            "triggers": row.triggers,
            "priority": row.priority,
            "is_enabled": row.is_enabled,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }
    )


def schedule(row: Any) -> Schedule:
    """A schedule row as a `Schedule`."""
    return Schedule.model_validate(
        {
            "project": row.project,
            "id": row.id,
            "display_name": row.display_name,
            "job": row.job,
            "parameters": row.parameters,
            "expression": row.expression,
            "is_enabled": row.is_enabled,
            "last_run": row.last_run,
            "last_fired_at": row.last_fired_at,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }
    )


RUN_FIELDS = tuple(name for name in Run.model_fields if name not in ("truncated_parameters", "steps"))
"""The stored fields of a run but its steps (`truncated_parameters` only describes a page of the api;
`steps` may be NULL)."""


def run(row: Any) -> Run:
    """A Core row of the runs table as a `Run`."""
    values = row._mapping  # by key: a listing converts many rows, and attribute access is slower
    return Run.model_validate({**{name: values[name] for name in RUN_FIELDS}, "steps": values["steps"] or []})


def run_from_values(values: dict[str, Any]) -> Run:
    """A run from the column values just written."""
    return Run.model_validate({**{name: values[name] for name in RUN_FIELDS}, "steps": values.get("steps") or []})


def worker(row: Any) -> Worker:
    """A worker row as a `Worker`."""
    return Worker.model_validate({name: getattr(row, name) for name in Worker.model_fields})


def user(row: Any) -> User:
    """A user row as a `User`."""
    return User.model_validate({name: getattr(row, name) for name in User.model_fields})


def credential(row: Any) -> Credential:
    """A credential row as a `Credential` (without its secret)."""
    return Credential(
        id=row.id,
        user=row.user_id,
        kind=row.kind,
        description=row.description,
        expires_at=row.expires_at,
        created_at=row.created_at,
        projects=row.projects,
        operations=row.operations,
    )
