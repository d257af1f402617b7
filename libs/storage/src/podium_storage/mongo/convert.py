"""MongoDB documents to `podium_model` objects, at the boundary of the MongoDB implementation.

Each function names every field it reads, so `_id` and any helper field never leak.
"""

from __future__ import annotations

from podium_model import Credential, Job, Project, Run, Schedule, User, Worker
from podium_storage.mongo.base import Document, load


def project(doc: Document) -> Project:
    """A project document as a `Project`."""
    return Project.model_validate(
        {
            "id": doc["_id"],
            "display_name": doc.get("display_name", ""),
            "services": load(doc.get("services"), {}),
            "notifications": load(doc.get("notifications"), []),
            "created_at": doc["created_at"],
            "updated_at": doc["updated_at"],
        }
    )


def job(doc: Document) -> Job:
    """A job document as a `Job`."""
    return Job.model_validate(
        {
            "project": doc["project"],
            "id": doc["id"],
            "display_name": doc.get("display_name", ""),
            "description": doc.get("description", ""),
            "definition": load(doc["definition"], None),
            "parameters": load(doc.get("parameters"), []),
            "properties": load(doc.get("properties"), {}),
            "triggers": load(doc.get("triggers"), []),
            "priority": doc.get("priority", 0),
            "is_enabled": doc.get("is_enabled", True),
            "created_at": doc["created_at"],
            "updated_at": doc["updated_at"],
        }
    )


def schedule(doc: Document) -> Schedule:
    """A schedule document as a `Schedule`."""
    return Schedule.model_validate(
        {
            "project": doc["project"],
            "id": doc["id"],
            "display_name": doc.get("display_name", ""),
            "job": doc["job"],
            "parameters": load(doc.get("parameters"), {}),
            "expression": doc["expression"],
            "is_enabled": doc.get("is_enabled", True),
            "last_run": doc.get("last_run"),
            "last_fired_at": doc.get("last_fired_at"),
            "created_at": doc["created_at"],
            "updated_at": doc["updated_at"],
        }
    )


def run(doc: Document) -> Run:
    """A run document as a `Run`."""
    return Run.model_validate(
        {
            "project": doc["project"],
            "id": doc["_id"],
            "job": doc["job"],
            "parameters": load(doc.get("parameters"), {}),
            "secret_parameters": doc.get("secret_parameters") or [],
            "source": doc.get("source") or {},
            "worker": doc.get("worker"),
            "status": doc["status"],
            "reason": doc.get("reason"),
            "waiting_reason": doc.get("waiting_reason"),
            "image": doc.get("image"),
            "image_digest": doc.get("image_digest"),
            "created_at": doc["created_at"],
            "assigned_at": doc.get("assigned_at"),
            "started_at": doc.get("started_at"),
            "completed_at": doc.get("completed_at"),
            "results": load(doc.get("results"), {}),
            "should_cancel": doc.get("should_cancel", False),
            "should_abort": doc.get("should_abort", False),
            "priority": doc.get("priority", 0),
            "concurrency_key": doc.get("concurrency_key"),
            "updated_at": doc["updated_at"],
            "attempt": doc.get("attempt", 1),
            "not_before": doc.get("not_before"),
            "retried_by": doc.get("retried_by"),
            "retry": doc.get("retry"),
            "steps": doc.get("steps") or [],
        }
    )


def worker(doc: Document) -> Worker:
    """A worker document as a `Worker`."""
    return Worker.model_validate(
        {
            "id": doc["_id"],
            "owner": doc["owner"],
            "version": doc.get("version", ""),
            "display_name": doc.get("display_name", ""),
            "properties": load(doc.get("properties"), {}),
            "executor_limit": doc.get("executor_limit", 1),
            "is_enabled": doc.get("is_enabled", True),
            "is_active": doc.get("is_active", False),
            "should_disconnect": doc.get("should_disconnect", False),
            "last_seen": doc.get("last_seen"),
            "master": doc.get("master"),
            "created_at": doc["created_at"],
            "updated_at": doc["updated_at"],
        }
    )


def user(doc: Document) -> User:
    """A user document as a `User`."""
    return User.model_validate(
        {
            "id": doc["_id"],
            "display_name": doc.get("display_name", ""),
            "roles": doc.get("roles") or [],
            "is_enabled": doc.get("is_enabled", True),
            "created_at": doc["created_at"],
            "updated_at": doc["updated_at"],
        }
    )


def credential(doc: Document) -> Credential:
    """A credential document as a `Credential` (its secret hash stays behind)."""
    return Credential.model_validate(
        {
            "id": doc["_id"],
            "user": doc["user"],
            "kind": doc["kind"],
            "description": doc.get("description", ""),
            "expires_at": doc.get("expires_at"),
            "created_at": doc["created_at"],
            "projects": doc.get("projects"),
            "operations": doc.get("operations"),
        }
    )
