"""The async storage interface shared by master and api.

Implementations (SQL today, MongoDB next) pass the same contract suite in
`tests/storage/`. Methods return models of `podium_model`: the database shape never leaks.
A missing entity is `None`, not an exception; a duplicate raises `AlreadyExists`.

Error tree::

    StorageError
    ├── AlreadyExists      an entity with that id exists
    ├── InvalidCursor      a listing cursor that this storage did not produce
    └── StorageUnavailable the database cannot be reached (retry later)
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from podium_model import (
    Credential,
    Job,
    Page,
    Project,
    Run,
    RunFilter,
    RunSource,
    RunStatus,
    RunUpdate,
    Schedule,
    User,
    UserUpdate,
    Worker,
    WorkerUpdate,
    new_id,
    utcnow,
)
from podium_model.access import Grant, GranteeKind, Group, ProjectPermission, ProjectRole
from podium_model.audit import AuditEntry, AuditFilter
from podium_model.config import JobConfig, ScheduleConfig
from podium_model.notifications import (
    Delivery,
    DeliveryAttempt,
    DeliveryFilter,
    DeliveryRecord,
    DeliveryStatus,
    Notification,
)
from podium_model.secrets import SecretInfo
from podium_model.users import CredentialKind, Role
from podium_storage.leadership import Leadership, SoleLeadership
from podium_storage.logs import LogStore
from podium_storage.wakeups import NoWakeups, Wakeups

audit_logger = logging.getLogger("podium.audit")
"""Where each audit entry is also written, as one line of JSON (`audit {...}`), once stored."""


class StorageError(Exception):
    """Base of the storage errors."""


class AlreadyExists(StorageError):
    """An entity with that identifier exists already."""


class InvalidCursor(StorageError):
    """A listing cursor that this storage did not produce."""


class StorageUnavailable(StorageError):
    """The database cannot be reached; the caller may retry."""


class CredentialRecord(Credential):
    """A credential with its secret hash: only for backups (`export_credentials`, `import_credential`)."""

    secret_hash: str


class SecretRecord(SecretInfo):
    """A secret with its project and sealed value (`podium_storage.sealing`): storage and backups only."""

    project: str
    sealed: str


Notifications = Mapping[str, Sequence[Notification]]
"""Project id → its notifications: what the master knows of every project's webhooks out."""


@dataclass(frozen=True)
class RunWrite:
    """One change of a run for `Storage.write_runs`: a compare-and-set when `to` is given.

    With `notifications`, a write that moves the run to a final status also stores the
    deliveries the run's project wants (`podium_model.notifications.deliveries_for`), in the
    same transaction as the status: the outbox of webhooks out, so a crash loses none.
    """

    run_id: str
    changes: RunUpdate | None = None
    to: RunStatus | None = None
    expected: Collection[RunStatus] = ()
    notifications: Notifications | None = None


PendingCursor = tuple[int, str]
"""Where a page of pending runs resumes: the priority and id of the last run read."""


def pending_cursor(run: Run) -> PendingCursor:
    """The cursor of `list_pending_runs` that resumes after `run`."""
    return (run.priority, run.id)


class Storage(abc.ABC):
    """Everything Podium persists, except logs (see `podium_storage.logs`)."""

    # Lifecycle --------------------------------------------------------------------------------

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Check the database answers.

        Raises:
            StorageUnavailable: it does not.
        """

    # Projects ---------------------------------------------------------------------------------

    @abc.abstractmethod
    async def put_project(
        self,
        id: str,
        display_name: str = "",
        services: dict[str, object] | None = None,
        notifications: Sequence[Notification] = (),
    ) -> Project:
        """Create or update a project (its notifications replaced by `notifications`)."""

    @abc.abstractmethod
    async def get_project(self, id: str) -> Project | None:
        """One project."""

    @abc.abstractmethod
    async def list_projects(self) -> list[Project]:
        """Every project, by id."""

    @abc.abstractmethod
    async def delete_project(self, id: str) -> bool:
        """Delete a project with its jobs, schedules, grants and secrets (runs stay readable); False if unknown."""

    # Jobs -------------------------------------------------------------------------------------

    @abc.abstractmethod
    async def put_job(self, project: str, job: JobConfig) -> Job:
        """Create or update a job from its configuration; `is_enabled` of an existing job is kept."""

    @abc.abstractmethod
    async def get_job(self, project: str, id: str) -> Job | None:
        """One job."""

    @abc.abstractmethod
    async def list_jobs(self, project: str | None = None) -> list[Job]:
        """Jobs of a project (or all), by project and id."""

    @abc.abstractmethod
    async def delete_job(self, project: str, id: str) -> bool:
        """Delete a job (its runs stay readable); False if unknown."""

    @abc.abstractmethod
    async def set_job_enabled(self, project: str, id: str, enabled: bool) -> Job | None:
        """Enable or disable a job; None if unknown."""

    # Schedules --------------------------------------------------------------------------------

    @abc.abstractmethod
    async def put_schedule(self, project: str, schedule: ScheduleConfig) -> Schedule:
        """Create or update a schedule; `is_enabled`, `last_run` of an existing one are kept."""

    @abc.abstractmethod
    async def get_schedule(self, project: str, id: str) -> Schedule | None:
        """One schedule."""

    @abc.abstractmethod
    async def list_schedules(self, project: str | None = None) -> list[Schedule]:
        """Schedules of a project (or all), by project and id."""

    @abc.abstractmethod
    async def delete_schedule(self, project: str, id: str) -> bool:
        """Delete a schedule; False if unknown."""

    @abc.abstractmethod
    async def set_schedule_enabled(self, project: str, id: str, enabled: bool) -> Schedule | None:
        """Enable or disable a schedule; None if unknown."""

    @abc.abstractmethod
    async def set_schedule_fired(self, project: str, id: str, run_id: str | None, fired_at: datetime) -> None:
        """Record that a schedule fired at `fired_at`, starting `run_id` (None: skipped).

        `last_fired_at` never moves back: a later tick recorded meanwhile is kept.
        """

    @abc.abstractmethod
    async def claim_schedule_tick(self, project: str, id: str, tick: datetime) -> bool:
        """Record `tick` as the schedule's last fired tick if it is later than the one recorded.

        A compare-and-set: of several masters firing the same tick, exactly one gets True
        (and starts its run); False also when the schedule is gone.
        """

    # Runs -------------------------------------------------------------------------------------

    @abc.abstractmethod
    async def create_run(
        self,
        project: str,
        job: str,
        parameters: dict[str, str],
        source: RunSource,
        run_id: str | None = None,
        secret_parameters: Sequence[str] = (),
        *,
        priority: int = 0,
        concurrency_key: str | None = None,
    ) -> Run:
        """Store a new pending run (id: a new UUIDv7 unless given) with its priority and concurrency key;
        `secret_parameters` are the keys of `parameters` the API answers masked."""

    @abc.abstractmethod
    async def get_run(self, run_id: str) -> Run | None:
        """One run by its id."""

    @abc.abstractmethod
    async def list_runs(self, filter: RunFilter, limit: int = 50, cursor: str | None = None) -> Page[Run]:
        """Runs matching `filter`, newest first, one page at a time (keyset cursor).

        Raises:
            InvalidCursor: `cursor` was not produced by this method.
        """

    @abc.abstractmethod
    async def list_pending_runs(self, limit: int = 1000, after: PendingCursor | None = None) -> list[Run]:
        """Pending runs in dispatch order: highest priority first, oldest first within one.

        `after` is the `(priority, id)` of the last run of the previous page (`pending_cursor`).
        """

    @abc.abstractmethod
    async def list_active_runs(self, worker: str | None = None) -> list[Run]:
        """Running runs (of one worker, or all), oldest first."""

    @abc.abstractmethod
    async def transition_run(
        self, run_id: str, expected: Collection[RunStatus], to: RunStatus, changes: RunUpdate | None = None
    ) -> Run | None:
        """Compare-and-set: move a run to `to` only if its status is in `expected`.

        Returns the updated run, or None when the run is unknown or in another status; so two
        callers, or a replayed message, can never move a run twice.
        """

    @abc.abstractmethod
    async def update_run(self, run_id: str, changes: RunUpdate) -> Run | None:
        """Write the fields set in `changes` (never the status); None if unknown."""

    async def write_runs(self, writes: Sequence[RunWrite]) -> list[Run | None]:
        """Apply `writes` in order, as one transaction where the database has them.

        Each write is `transition_run` when it names a status to move to, else `update_run`;
        the answer holds each one's result, in order. SQL storage commits them together (one
        commit instead of one per write: the master batches its run changes this way); this
        default applies them one by one.
        """
        results: list[Run | None] = []
        for write in writes:
            if write.to is None:
                results.append(await self.update_run(write.run_id, write.changes or RunUpdate()))
            else:
                results.append(await self.transition_run(write.run_id, write.expected, write.to, write.changes))
        return results

    @abc.abstractmethod
    async def put_run_payload(self, run_id: str, payload: str) -> None:
        """Store the request body of a webhook run, before the run itself (so no dispatch misses it).

        Raises:
            AlreadyExists: the run holds a payload already.
        """

    @abc.abstractmethod
    async def get_run_payload(self, run_id: str) -> str | None:
        """The request body of a webhook run; None for any other run."""

    # Deliveries (webhooks out) ----------------------------------------------------------------

    @abc.abstractmethod
    async def list_pending_deliveries(self, limit: int = 1000) -> list[DeliveryRecord]:
        """Pending deliveries with their bodies, by id (so a run's come in the order they are sent)."""

    @abc.abstractmethod
    async def claim_delivery(self, id: str, holder: str, until: datetime) -> bool:
        """Take the sending of a delivery until `until` (a lease); True when `holder` holds it now.

        A compare-and-set, so that of several masters one sends each attempt: it succeeds on a
        pending delivery that is due (`next_attempt_at` passed, or none) and unclaimed, whose
        lease ended (its holder died mid-send), or that `holder` holds already.
        `record_delivery_attempt` ends the lease.
        """

    @abc.abstractmethod
    async def record_delivery_attempt(
        self, id: str, attempt: DeliveryAttempt, status: DeliveryStatus, next_attempt_at: datetime | None
    ) -> Delivery | None:
        """Append an attempt (keeping the latest `DELIVERY_ATTEMPTS_KEPT`), set the status and end
        the lease (`claim_delivery`); None if unknown."""

    @abc.abstractmethod
    async def list_deliveries(
        self, project: str, filter: DeliveryFilter | None = None, limit: int = 50, cursor: str | None = None
    ) -> Page[Delivery]:
        """A project's deliveries matching `filter`, newest first, one page at a time (keyset cursor on the id).

        Raises:
            InvalidCursor: `cursor` was not produced by this method.
        """

    async def recover_deliveries(self, notifications: Notifications) -> int:
        """Store the deliveries a crash may have left unwritten; how many (master start-up).

        SQL writes them in the run's transaction, so nothing is ever left: this default does
        nothing. MongoDB marks the run in the same atomic write as its status and stores the
        deliveries after it; a run still marked is completed here.
        """
        return 0

    async def resume_retries(self) -> int:
        """Create the follow-up attempts a stop left recorded but not created; how many (master start-up).

        SQL creates a follow-up in the transaction of the final status, so nothing is ever
        left over (this default); MongoDB has no transaction across two documents and records
        the follow-up's id on the ended run first.
        """
        return 0

    # Leadership -------------------------------------------------------------------------------

    def leadership(self) -> Leadership:
        """A new claim to lead the masters of this database (`podium_storage.leadership`).

        A single master serves this backend unless it says otherwise: that master always leads.
        """
        return SoleLeadership()

    @property
    def announces_new_runs(self) -> bool:
        """True when storing a run wakes every master by itself (PostgreSQL: the insert's NOTIFY).

        The api then tells no master of the runs it creates (`podium_api.masters.Masters.run_created`);
        such a backend's `wakeups` listens for those announcements.
        """
        return False

    def wakeups(self) -> Wakeups:
        """A new ear for the runs other processes create (`podium_storage.wakeups`).

        None unless the backend says otherwise: its masters find such runs at their sweep.
        """
        return NoWakeups()

    # Run logs ---------------------------------------------------------------------------------

    @abc.abstractmethod
    def database_logs(self, artifacts: Path | None) -> LogStore:
        """The log store in this database (`--log-store database`): every master and the api
        that share the database serve the same logs; artifacts stay files under `artifacts`."""

    # Workers ----------------------------------------------------------------------------------

    @abc.abstractmethod
    async def get_worker(self, id: str) -> Worker | None:
        """One worker."""

    @abc.abstractmethod
    async def list_workers(self) -> list[Worker]:
        """Every worker, by id."""

    @abc.abstractmethod
    async def put_worker(self, id: str, owner: str, changes: WorkerUpdate) -> Worker:
        """Create a worker or update it with the fields set in `changes`."""

    @abc.abstractmethod
    async def update_worker(self, id: str, changes: WorkerUpdate) -> Worker | None:
        """Write the fields set in `changes`; None if unknown."""

    @abc.abstractmethod
    async def deactivate_workers(self, master: str | None = None, seen_before: datetime | None = None) -> int:
        """Mark workers inactive; the count changed.

        Without arguments every worker. Else those matching either criterion given: `master`,
        those whose connection that master holds and those naming no master; `seen_before`,
        those not seen since then (their master is gone). What a master that starts, stops or
        leads may say of the workers beside other masters.
        """

    @abc.abstractmethod
    async def release_worker(self, id: str, master: str) -> Worker | None:
        """Mark the worker inactive if `master` still holds it; None if another master took it (or unknown).

        A worker that moved to another master meanwhile stays active: the other master wrote
        its row when it reconciled the new connection, and this older disconnection is stale.
        """

    @abc.abstractmethod
    async def touch_workers(self, ids: Collection[str], seen: datetime) -> None:
        """Set `last_seen` of these workers (unknown ids are ignored), in one write."""

    # Users and credentials --------------------------------------------------------------------

    @abc.abstractmethod
    async def create_user(self, id: str, display_name: str = "", roles: Collection[Role] = ()) -> User:
        """Create a user.

        Raises:
            AlreadyExists: the id is taken.
        """

    @abc.abstractmethod
    async def get_user(self, id: str) -> User | None:
        """One user."""

    @abc.abstractmethod
    async def list_users(self) -> list[User]:
        """Every user, by id."""

    @abc.abstractmethod
    async def update_user(self, id: str, changes: UserUpdate) -> User | None:
        """Write the fields set in `changes`; None if unknown."""

    @abc.abstractmethod
    async def delete_user(self, id: str) -> bool:
        """Delete a user with their credentials, grants and group memberships; False if unknown."""

    @abc.abstractmethod
    async def add_credential(
        self,
        user: str,
        kind: CredentialKind,
        secret_hash: str,
        description: str = "",
        expires_at: datetime | None = None,
        projects: Collection[str] | None = None,
        operations: Collection[ProjectPermission] | None = None,
    ) -> Credential:
        """Store a credential. A new password replaces the user's previous one.

        `projects` and `operations` narrow a token (None: not narrowed).
        """

    @abc.abstractmethod
    async def list_credentials(self, user: str, kind: CredentialKind | None = None) -> list[Credential]:
        """Credentials of a user, newest first."""

    @abc.abstractmethod
    async def get_password_hash(self, user: str) -> str | None:
        """The stored password hash of a user, if any."""

    @abc.abstractmethod
    async def find_token(self, secret_hash: str) -> tuple[Credential, User] | None:
        """The token credential with that SHA-256 hash, and its user (expiry not checked)."""

    @abc.abstractmethod
    async def delete_credential(self, user: str, id: str) -> bool:
        """Revoke a credential; False if unknown."""

    # Audit ------------------------------------------------------------------------------------

    async def record_audit(
        self, actor: str, action: str, target: str, details: Mapping[str, Any] | None = None
    ) -> AuditEntry:
        """Record one administrative change: a stored entry, then one structured log line.

        Concrete on purpose: every backend stores through `import_audit`, and the log line is
        written here once, so no caller can make one without the other.

        Args:
            actor: the user who made the change.
            action: what was done, `noun.verb` (`user.disable`, `secret.set`, `grant.put`, ...).
            target: what it was done to, `kind/id` (`user/alice`, `project/p/secret/NAME`, ...).
            details: what changed, JSON-safe; never a password, token or secret value.
        """
        entry = AuditEntry(
            id=new_id(), at=utcnow(), actor=actor[:64], action=action, target=target[:300], details=dict(details or {})
        )
        await self.import_audit(entry)
        audit_logger.info("audit %s", entry.model_dump_json())
        return entry

    @abc.abstractmethod
    async def import_audit(self, entry: AuditEntry) -> None:
        """Store an audit entry as it is: `record_audit` makes them, a backup import replays them.

        Raises:
            AlreadyExists: an entry with that id exists.
        """

    @abc.abstractmethod
    async def list_audit(
        self, filter: AuditFilter | None = None, limit: int = 50, cursor: str | None = None
    ) -> Page[AuditEntry]:
        """Audit entries matching `filter`, newest first, one page at a time (keyset cursor on the id).

        Raises:
            InvalidCursor: `cursor` was not produced by this method.
        """

    # Access -----------------------------------------------------------------------------------

    @abc.abstractmethod
    async def put_grant(self, project: str, kind: GranteeKind, name: str, role: ProjectRole) -> Grant:
        """Give the user or group `name` the role `role` on `project`, replacing the role it had there.

        The user or group need not exist yet (configuration may name people before they log in
        for the first time); deleting a user or a group removes its grants.

        Raises:
            StorageError: the project is unknown.
        """

    @abc.abstractmethod
    async def delete_grant(self, project: str, kind: GranteeKind, name: str) -> bool:
        """Remove a grant; False if there was none."""

    @abc.abstractmethod
    async def list_grants(self, project: str | None = None) -> list[Grant]:
        """The grants of a project (or all), by project, kind and name."""

    @abc.abstractmethod
    async def grants_of(self, user: str) -> dict[str, ProjectRole]:
        """The strongest role `user` holds on each project, directly or through a group.

        Every authorized request of a user calls this once: one round trip.
        """

    @abc.abstractmethod
    async def put_group(self, id: str, display_name: str = "", members: Collection[str] = ()) -> Group:
        """Create a group or replace its display name and members.

        Raises:
            StorageError: a member is not a user.
        """

    @abc.abstractmethod
    async def get_group(self, id: str) -> Group | None:
        """One group."""

    @abc.abstractmethod
    async def list_groups(self) -> list[Group]:
        """Every group, by id."""

    @abc.abstractmethod
    async def delete_group(self, id: str) -> bool:
        """Delete a group with its grants; False if unknown."""

    # Secrets ----------------------------------------------------------------------------------
    # Values are stored sealed (`podium_storage.sealing`): storage never sees one in clear.

    @abc.abstractmethod
    async def put_secret(self, project: str, name: str, sealed: str) -> SecretInfo:
        """Create or replace a project's secret.

        Raises:
            StorageError: the project is unknown.
        """

    @abc.abstractmethod
    async def list_secrets(self, project: str) -> list[SecretInfo]:
        """The secrets of a project, by name (empty for an unknown project)."""

    @abc.abstractmethod
    async def get_sealed_secrets(self, project: str, names: Collection[str]) -> dict[str, str]:
        """Name → sealed value of those of `names` the project holds (the missing ones are left out)."""

    @abc.abstractmethod
    async def delete_secret(self, project: str, name: str) -> bool:
        """Delete a secret; False if unknown."""

    @abc.abstractmethod
    async def export_secrets(self) -> list[SecretRecord]:
        """Every secret, sealed, by project and name (backups and key rotation)."""

    @abc.abstractmethod
    async def reseal_secret(self, project: str, name: str, old: str, new: str) -> bool:
        """Replace the sealed value `old` by `new` (same value, another key), keeping the dates.

        False when the secret is gone or holds another value now (set meanwhile): nothing written.
        """

    # Backup and retention ---------------------------------------------------------------------
    # The `import_*` methods store an entity exactly as given (ids, flags and timestamps kept),
    # for `podium_storage.backup`; each raises `AlreadyExists` when the id is taken.

    @abc.abstractmethod
    async def import_project(self, project: Project) -> None:
        """Store a project as is.

        Raises:
            AlreadyExists: the id is taken.
        """

    @abc.abstractmethod
    async def import_job(self, job: Job) -> None:
        """Store a job as is.

        Raises:
            AlreadyExists: the id is taken.
            StorageError: the project is unknown.
        """

    @abc.abstractmethod
    async def import_schedule(self, schedule: Schedule) -> None:
        """Store a schedule as is (with `last_run`, `last_fired_at`).

        Raises:
            AlreadyExists: the id is taken.
            StorageError: the job is unknown.
        """

    @abc.abstractmethod
    async def import_user(self, user: User) -> None:
        """Store a user as is (without credentials).

        Raises:
            AlreadyExists: the id is taken.
        """

    @abc.abstractmethod
    async def import_group(self, group: Group) -> None:
        """Store a group as is, members included.

        Raises:
            AlreadyExists: the id is taken.
            StorageError: a member is not a user.
        """

    @abc.abstractmethod
    async def import_grant(self, grant: Grant) -> None:
        """Store a grant as is.

        Raises:
            AlreadyExists: that project already grants that user or group a role.
            StorageError: the project is unknown.
        """

    @abc.abstractmethod
    async def import_worker(self, worker: Worker) -> None:
        """Store a worker as is.

        Raises:
            AlreadyExists: the id is taken.
        """

    @abc.abstractmethod
    async def export_credentials(self) -> list[CredentialRecord]:
        """Every credential with its secret hash, by user and id."""

    @abc.abstractmethod
    async def import_credential(self, credential: CredentialRecord) -> None:
        """Store a credential as is (id, hash, dates); never replaces another password.

        Raises:
            AlreadyExists: the id is taken.
            StorageError: the user is unknown.
        """

    @abc.abstractmethod
    async def import_secret(self, secret: SecretRecord) -> None:
        """Store a sealed secret as is (dates kept).

        Raises:
            AlreadyExists: the project holds that name.
            StorageError: the project is unknown.
        """

    @abc.abstractmethod
    async def import_run(self, run: Run) -> None:
        """Store a run as is, in whatever status.

        Raises:
            AlreadyExists: the id is taken.
        """

    @abc.abstractmethod
    async def delete_runs(self, run_ids: Collection[str]) -> int:
        """Delete the runs among `run_ids` that are in a final status (others are kept), with their
        payloads and deliveries; the count deleted."""
