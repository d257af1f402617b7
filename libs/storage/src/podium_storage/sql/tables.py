"""The SQL tables, as SQLModel classes (`table=True`).

These never leave the `sql` package: `convert.py` turns rows into `podium_model` objects.
Run ids are UUIDv7 strings, so ordering by id orders by creation time and one index per
listing serves "newest first" and its keyset cursor. Runs carry no foreign key: the runs of a
removed job or project stay readable.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
)
from sqlmodel import Field, SQLModel

from podium_storage.sql.types import JsonType, UtcDateTime

# Deterministic constraint names, so migrations can refer to them on every database.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class Base(SQLModel):
    """Base of the tables, bound to Podium's own metadata."""

    metadata = metadata


def _json() -> Any:
    return Field(default_factory=dict, sa_type=JsonType, sa_column_kwargs={"nullable": False})


def _date(nullable: bool = False) -> Any:
    return Field(default=None, sa_type=UtcDateTime, sa_column_kwargs={"nullable": nullable})


class ProjectRow(Base, table=True):
    """A project."""

    __tablename__ = "projects"

    id: str = Field(sa_type=String(64), primary_key=True)
    display_name: str = Field(default="", sa_type=String(200))
    services: dict[str, Any] = _json()
    # Webhooks out (migration 0010), a JSON list of `Notification`s.
    notifications: list[dict[str, Any]] = Field(
        default_factory=list, sa_type=JsonType, sa_column_kwargs={"nullable": False}
    )
    created_at: datetime = _date()
    updated_at: datetime = _date()


class JobRow(Base, table=True):
    """A job of a project; removed with its project."""

    __tablename__ = "jobs"

    project: str = Field(sa_column=Column(String(64), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True))
    id: str = Field(sa_type=String(64), primary_key=True)
    display_name: str = Field(default="", sa_type=String(200))
    description: str = Field(default="", sa_type=Text)
    definition: dict[str, Any] = _json()
    parameters: list[dict[str, Any]] = Field(
        default_factory=list, sa_type=JsonType, sa_column_kwargs={"nullable": False}
    )
    properties: dict[str, str] = _json()
    # Webhook triggers (migration 0006), a JSON list.
    triggers: list[dict[str, Any]] = Field(default_factory=list, sa_type=JsonType, sa_column_kwargs={"nullable": False})
    priority: int = Field(default=0, sa_type=Integer, sa_column_kwargs={"server_default": "0"})  # migration 0009
    is_enabled: bool = Field(default=True, sa_type=Boolean)
    created_at: datetime = _date()
    updated_at: datetime = _date()


class ScheduleRow(Base, table=True):
    """A cron schedule of a job; removed with its job."""

    __tablename__ = "schedules"
    __table_args__ = (
        ForeignKeyConstraint(
            ["project", "job"], ["jobs.project", "jobs.id"], ondelete="CASCADE", name="fk_schedules_job_jobs"
        ),
    )

    project: str = Field(sa_type=String(64), primary_key=True)
    id: str = Field(sa_type=String(64), primary_key=True)
    display_name: str = Field(default="", sa_type=String(200))
    job: str = Field(sa_type=String(64))
    parameters: dict[str, str] = _json()
    expression: str = Field(sa_type=String(200))
    is_enabled: bool = Field(default=True, sa_type=Boolean)
    last_run: str | None = Field(default=None, sa_type=String(36), nullable=True)
    last_fired_at: datetime | None = _date(nullable=True)
    created_at: datetime = _date()
    updated_at: datetime = _date()


class RunRow(Base, table=True):
    """A run. `source_type` repeats `source.type` so listings can filter on it."""

    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_project_id", "project", "id"),
        Index("ix_runs_project_job_id", "project", "job", "id"),
        Index("ix_runs_status_id", "status", "id"),
        Index("ix_runs_worker_status", "worker", "status"),
        Index("ix_runs_project_source_type_id", "project", "source_type", "id"),  # migration 0002
        Index("ix_runs_project_created_at", "project", "created_at"),  # migration 0002
    )

    id: str = Field(sa_type=String(36), primary_key=True)
    project: str = Field(sa_type=String(64))
    job: str = Field(sa_type=String(64))
    parameters: dict[str, str] = _json()
    secret_parameters: list[str] = Field(
        default_factory=list, sa_type=JsonType, sa_column_kwargs={"nullable": False}
    )  # migration 0007
    source: dict[str, Any] = _json()
    source_type: str = Field(sa_type=String(16))
    worker: str | None = Field(default=None, sa_type=String(64), nullable=True)
    status: str = Field(sa_type=String(16))
    reason: str | None = Field(default=None, sa_type=Text, nullable=True)
    waiting_reason: str | None = Field(default=None, sa_type=Text, nullable=True)
    image: str | None = Field(default=None, sa_type=String(255), nullable=True)  # migration 0008
    image_digest: str | None = Field(default=None, sa_type=Text, nullable=True)  # migration 0008
    results: dict[str, Any] = _json()
    should_cancel: bool = Field(default=False, sa_type=Boolean)
    should_abort: bool = Field(default=False, sa_type=Boolean)
    priority: int = Field(default=0, sa_type=Integer, sa_column_kwargs={"server_default": "0"})  # migration 0009
    concurrency_key: str | None = Field(default=None, sa_type=String(200), nullable=True)  # migration 0009
    created_at: datetime = _date()
    assigned_at: datetime | None = _date(nullable=True)
    started_at: datetime | None = _date(nullable=True)
    completed_at: datetime | None = _date(nullable=True)
    updated_at: datetime = _date()
    # Retries (migration 0011): the attempt's number, when it may start, the attempt that
    # followed it, and the job's policy as it stood when a worker took it.
    attempt: int = Field(default=1, sa_type=Integer, sa_column_kwargs={"nullable": False, "server_default": "1"})
    not_before: datetime | None = _date(nullable=True)
    retried_by: str | None = Field(default=None, sa_type=String(36), nullable=True)
    retry: dict[str, Any] | None = Field(default=None, sa_type=JsonType, nullable=True)
    # Migration 0012; NULL (the runs stored before it, and new ones until a step) reads as [].
    steps: list[dict[str, Any]] | None = Field(default=None, sa_type=JsonType, nullable=True)


class RunPayloadRow(Base, table=True):
    """The request body of a webhook run (migration 0006); removed with its run by `delete_runs`.

    A table of its own: listings and the writes of the hot path, which read whole run rows,
    never carry a payload.
    """

    __tablename__ = "run_payloads"

    run_id: str = Field(sa_type=String(36), primary_key=True)
    payload: str = Field(sa_type=Text)


class LogChunkRow(Base, table=True):
    """A chunk of a run's log in the database log store (migration 0014; `sql.logs`).

    The chunks of a run are contiguous: each starts where the previous one ends, so the log's
    size is the last chunk's end (one backward step of the primary key) and the primary key
    on `start` is the compare-and-set of an append. No foreign key: like the log files, the
    chunks are deleted by whoever deletes the log (retention, a requeue, a new attempt).
    """

    __tablename__ = "log_chunks"

    project: str = Field(sa_type=String(64), primary_key=True)
    run_id: str = Field(sa_type=String(64), primary_key=True)
    start: int = Field(sa_type=BigInteger, primary_key=True)
    data: bytes = Field(sa_type=LargeBinary)


# The dispatcher's order: pending runs by priority, highest first, then oldest first (migration 0009).
Index(
    "ix_runs_status_priority_id",
    RunRow.__table__.c.status,  # type: ignore[attr-defined]
    RunRow.__table__.c.priority.desc(),  # type: ignore[attr-defined]
    RunRow.__table__.c.id,  # type: ignore[attr-defined]
)


class DeliveryRow(Base, table=True):
    """One event of a run for one notification (migration 0010): the outbox of webhooks out.

    Inserted in the transaction that writes the run's final status; the master's sender
    updates it after each attempt. `id` is `<run id>.<n>`, so id order is run order, then the
    order of the run's events. Removed with its run by `delete_runs`.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_status_id", "status", "id"),
        Index("ix_deliveries_project_id", "project", "id"),
    )

    id: str = Field(sa_type=String(40), primary_key=True)
    project: str = Field(sa_type=String(64))
    run_id: str = Field(sa_type=String(36))
    job: str = Field(sa_type=String(64))
    event: str = Field(sa_type=String(32))
    url: str = Field(sa_type=Text)
    secret: str = Field(sa_type=String(64))
    body: str = Field(sa_type=Text)
    status: str = Field(sa_type=String(16))
    attempts: list[dict[str, Any]] = Field(default_factory=list, sa_type=JsonType, sa_column_kwargs={"nullable": False})
    attempt_count: int = Field(default=0, sa_type=Integer)
    next_attempt_at: datetime | None = _date(nullable=True)
    created_at: datetime = _date()
    updated_at: datetime = _date()
    # The master sending it now, until when (migration 0016): several masters send each once.
    claimed_by: str | None = Field(default=None, sa_type=String(64), nullable=True)
    claimed_until: datetime | None = _date(nullable=True)


class WorkerRow(Base, table=True):
    """A worker host."""

    __tablename__ = "workers"

    id: str = Field(sa_type=String(64), primary_key=True)
    owner: str = Field(sa_type=String(64))
    version: str = Field(default="", sa_type=String(100))
    display_name: str = Field(default="", sa_type=String(200))
    properties: dict[str, str] = _json()
    executor_limit: int = Field(default=1, sa_type=Integer)
    is_enabled: bool = Field(default=True, sa_type=Boolean)
    is_active: bool = Field(default=False, sa_type=Boolean)
    should_disconnect: bool = Field(default=False, sa_type=Boolean)
    last_seen: datetime | None = _date(nullable=True)
    # The master holding (or that last held) its connection (migration 0013).
    master: str | None = Field(default=None, sa_type=String(64), nullable=True)
    created_at: datetime = _date()
    updated_at: datetime = _date()


class UserRow(Base, table=True):
    """A user; `roles` is a JSON list of role names."""

    __tablename__ = "users"

    id: str = Field(sa_type=String(64), primary_key=True)
    display_name: str = Field(default="", sa_type=String(200))
    roles: list[str] = Field(default_factory=list, sa_type=JsonType, sa_column_kwargs={"nullable": False})
    is_enabled: bool = Field(default=True, sa_type=Boolean)
    created_at: datetime = _date()
    updated_at: datetime = _date()


class CredentialRow(Base, table=True):
    """A password hash (Argon2id) or a token hash (SHA-256) of a user; removed with the user."""

    __tablename__ = "credentials"
    __table_args__ = (Index("ix_credentials_user_id_kind", "user_id", "kind"),)

    id: str = Field(sa_type=String(36), primary_key=True)
    user_id: str = Field(sa_column=Column(String(64), ForeignKey("users.id", ondelete="CASCADE"), nullable=False))
    kind: str = Field(sa_type=String(16))
    description: str = Field(default="", sa_type=String(200))
    secret_hash: str = Field(sa_type=String(255), unique=True)
    expires_at: datetime | None = _date(nullable=True)
    created_at: datetime = _date()
    # A narrowed token's projects and operations (JSON lists); NULL: not narrowed.
    projects: list[str] | None = Field(default=None, sa_type=JsonType, nullable=True)
    operations: list[str] | None = Field(default=None, sa_type=JsonType, nullable=True)


class GroupRow(Base, table=True):
    """A named group of users (its members are `GroupMemberRow`s)."""

    __tablename__ = "groups"

    id: str = Field(sa_type=String(64), primary_key=True)
    display_name: str = Field(default="", sa_type=String(200))
    created_at: datetime = _date()
    updated_at: datetime = _date()


class GroupMemberRow(Base, table=True):
    """A user's membership of a group; removed with the group or the user."""

    __tablename__ = "group_members"
    __table_args__ = (Index("ix_group_members_user_id", "user_id"),)

    group_id: str = Field(sa_column=Column(String(64), ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True))
    user_id: str = Field(sa_column=Column(String(64), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True))


class GrantRow(Base, table=True):
    """A role on a project given to a user or a group (`kind`); removed with the project.

    `name` has no foreign key: a grant may name a user who does not exist yet. Deleting a
    user or a group deletes its grants explicitly.
    """

    __tablename__ = "grants"
    __table_args__ = (Index("ix_grants_kind_name", "kind", "name"),)

    project: str = Field(sa_column=Column(String(64), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True))
    kind: str = Field(sa_type=String(8), primary_key=True)
    name: str = Field(sa_type=String(64), primary_key=True)
    role: str = Field(sa_type=String(16))
    created_at: datetime = _date()
    updated_at: datetime = _date()


class AuditRow(Base, table=True):
    """One administrative change (migration 0004); never updated, removed only by retention."""

    __tablename__ = "audit"
    __table_args__ = (
        Index("ix_audit_actor_id", "actor", "id"),
        Index("ix_audit_action_id", "action", "id"),
        Index("ix_audit_target_id", "target", "id"),
    )

    id: str = Field(sa_type=String(36), primary_key=True)
    at: datetime = _date()
    actor: str = Field(sa_type=String(64))
    action: str = Field(sa_type=String(64))
    target: str = Field(sa_type=String(300))
    details: dict[str, Any] = _json()


class SecretRow(Base, table=True):
    """A project's secret, sealed (`podium_storage.sealing`); removed with its project."""

    __tablename__ = "secrets"

    project: str = Field(sa_column=Column(String(64), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True))
    name: str = Field(sa_type=String(64), primary_key=True)
    sealed: str = Field(sa_type=Text)
    created_at: datetime = _date()
    updated_at: datetime = _date()
