"""Workers, users and credentials in SQL."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from podium_model import Credential, User, UserUpdate, Worker, WorkerUpdate, new_id, utcnow
from podium_model.access import ProjectPermission
from podium_model.users import CredentialKind, Role, role_names
from podium_storage.interface import AlreadyExists, StorageError
from podium_storage.sql import convert
from podium_storage.sql.session import SqlBase, table
from podium_storage.sql.tables import CredentialRow, GrantRow, UserRow, WorkerRow

_workers = table(WorkerRow)
_users = table(UserRow)
_credentials = table(CredentialRow)
_grants = table(GrantRow)

# Every authenticated request runs this lookup: built once, so that SQLAlchemy neither builds
# the statement nor computes its cache key again (it keeps the key on the statement object).
_FIND_TOKEN = (
    select(_credentials, _users)
    .join(_users, _users.c.id == _credentials.c.user_id)
    .where(_credentials.c.secret_hash == bindparam("secret_hash"), _credentials.c.kind == "token")
)
_GET_WORKER = select(_workers).where(_workers.c.id == bindparam("id"))
_GET_USER = select(_users).where(_users.c.id == bindparam("id"))


def _worker_changes(changes: WorkerUpdate) -> dict[str, Any]:
    values = changes.model_dump(exclude_unset=True)
    # Columns that may not be NULL keep their value when a change says None.
    return {name: value for name, value in values.items() if value is not None or name == "last_seen"}


class AccountStore(SqlBase):
    """The worker, user and credential methods of `SqlStorage`."""

    # Workers ----------------------------------------------------------------------------------

    async def get_worker(self, id: str) -> Worker | None:
        """One worker."""
        row = await self._reading(lambda connection: connection.execute(_GET_WORKER, {"id": id}).first())
        return None if row is None else convert.worker(row)

    async def list_workers(self) -> list[Worker]:
        """Every worker, by id."""
        rows = await self._reading(
            lambda connection: connection.execute(select(_workers).order_by(_workers.c.id)).all()
        )
        return [convert.worker(row) for row in rows]

    async def put_worker(self, id: str, owner: str, changes: WorkerUpdate) -> Worker:
        """Create a worker or update it with the fields set in `changes`."""
        now = utcnow()
        values = {"owner": owner, **_worker_changes(changes), "updated_at": now}

        def put(session: Session) -> Worker:
            row = session.get(WorkerRow, id)
            if row is None:
                row = WorkerRow(id=id, created_at=now, **values)
                session.add(row)
            else:
                for name, value in values.items():
                    setattr(row, name, value)
            return convert.worker(row)

        return await self._orm(put)

    async def update_worker(self, id: str, changes: WorkerUpdate) -> Worker | None:
        """Write the fields set in `changes`; None if unknown."""
        values = {**_worker_changes(changes), "updated_at": utcnow()}
        query = update(_workers).where(_workers.c.id == id).values(**values).returning(*_workers.c)
        row = await self._writing(lambda connection: connection.execute(query).first())
        return None if row is None else convert.worker(row)

    async def touch_workers(self, ids: Collection[str], seen: datetime) -> None:
        """Set `last_seen` of these workers (unknown ids are ignored), in one write."""
        if not ids:
            return
        query = update(_workers).where(_workers.c.id.in_(list(ids))).values(last_seen=seen)
        await self._writing(lambda connection: connection.execute(query))

    async def deactivate_workers(self, master: str | None = None, seen_before: datetime | None = None) -> int:
        """Mark workers inactive (every one, or those of `master` or of none, or those unseen since `seen_before`)."""
        query = update(_workers).where(_workers.c.is_active.is_(True))
        which = []
        if master is not None:
            which += [_workers.c.master == master, _workers.c.master.is_(None)]
        if seen_before is not None:
            which += [_workers.c.last_seen.is_(None), _workers.c.last_seen < seen_before]
        if which:
            query = query.where(or_(*which))
        query = query.values(is_active=False, updated_at=utcnow())
        return await self._writing(lambda connection: int(connection.execute(query).rowcount))

    async def release_worker(self, id: str, master: str) -> Worker | None:
        """Mark the worker inactive if `master` still holds it; None if another master took it."""
        query = (
            update(_workers)
            .where(_workers.c.id == id, _workers.c.master == master)
            .values(is_active=False, updated_at=utcnow())
            .returning(*_workers.c)
        )
        row = await self._writing(lambda connection: connection.execute(query).first())
        return None if row is None else convert.worker(row)

    # Users ------------------------------------------------------------------------------------

    async def create_user(self, id: str, display_name: str = "", roles: Collection[Role] = ()) -> User:
        """Create a user.

        Raises:
            AlreadyExists: the id is taken.
        """
        now = utcnow()

        def create(session: Session) -> User:
            if session.get(UserRow, id) is not None:
                raise AlreadyExists(f"user {id!r} exists")
            row = UserRow(id=id, display_name=display_name, roles=role_names(roles), created_at=now, updated_at=now)
            session.add(row)
            return convert.user(row)

        return await self._orm(create)

    async def get_user(self, id: str) -> User | None:
        """One user."""
        row = await self._reading(lambda connection: connection.execute(_GET_USER, {"id": id}).first())
        return None if row is None else convert.user(row)

    async def list_users(self) -> list[User]:
        """Every user, by id."""
        rows = await self._reading(lambda connection: connection.execute(select(_users).order_by(_users.c.id)).all())
        return [convert.user(row) for row in rows]

    async def update_user(self, id: str, changes: UserUpdate) -> User | None:
        """Write the fields set in `changes`; None if unknown."""
        values = {name: value for name, value in changes.model_dump(exclude_unset=True).items() if value is not None}
        if "roles" in values:
            values["roles"] = role_names(values["roles"])
        values["updated_at"] = utcnow()
        query = update(_users).where(_users.c.id == id).values(**values).returning(*_users.c)
        row = await self._writing(lambda connection: connection.execute(query).first())
        return None if row is None else convert.user(row)

    async def delete_user(self, id: str) -> bool:
        """Delete a user with their credentials, grants and group memberships; False if unknown."""

        def remove(connection: Connection) -> bool:
            connection.execute(delete(_grants).where(_grants.c.kind == "user", _grants.c.name == id))
            return bool(connection.execute(delete(_users).where(_users.c.id == id)).rowcount)

        return await self._writing(remove)

    # Credentials ------------------------------------------------------------------------------

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

        Raises:
            StorageError: the user is unknown.
            AlreadyExists: a credential with that very hash exists.
        """
        if kind not in ("password", "token"):
            raise ValueError(f"unknown credential kind {kind!r}")
        row = CredentialRow(
            id=new_id(),
            user_id=user,
            kind=kind,
            description=description,
            secret_hash=secret_hash,
            expires_at=expires_at,
            created_at=utcnow(),
            projects=None if projects is None else sorted(set(projects)),
            operations=None if operations is None else sorted({ProjectPermission(o).value for o in operations}),
        )

        def add(session: Session) -> Credential:
            if session.get(UserRow, user) is None:
                raise StorageError(f"unknown user {user!r}")
            if kind == "password":
                session.execute(
                    delete(_credentials).where(_credentials.c.user_id == user, _credentials.c.kind == "password")
                )
            session.add(row)
            return convert.credential(row)

        return await self._orm(add)

    async def list_credentials(self, user: str, kind: CredentialKind | None = None) -> list[Credential]:
        """Credentials of a user, newest first."""
        query = select(_credentials).where(_credentials.c.user_id == user).order_by(_credentials.c.id.desc())
        if kind is not None:
            query = query.where(_credentials.c.kind == kind)
        rows = await self._reading(lambda connection: connection.execute(query).all())
        return [convert.credential(row) for row in rows]

    async def get_password_hash(self, user: str) -> str | None:
        """The stored password hash of a user, if any."""
        query = (
            select(_credentials.c.secret_hash)
            .where(_credentials.c.user_id == user, _credentials.c.kind == "password")
            .order_by(_credentials.c.id.desc())
            .limit(1)
        )
        value = await self._reading(lambda connection: connection.execute(query).scalar_one_or_none())
        return None if value is None else str(value)

    async def find_token(self, secret_hash: str) -> tuple[Credential, User] | None:
        """The token credential with that SHA-256 hash, and its user (expiry not checked)."""
        row = await self._reading(
            lambda connection: connection.execute(_FIND_TOKEN, {"secret_hash": secret_hash}).first()
        )
        if row is None:
            return None
        mapping = row._mapping
        credential = convert.credential(_Columns({c.name: mapping[c] for c in _credentials.c}))
        user = convert.user(_Columns({c.name: mapping[c] for c in _users.c}))
        return credential, user

    async def delete_credential(self, user: str, id: str) -> bool:
        """Revoke a credential; False if unknown."""
        query = delete(_credentials).where(_credentials.c.user_id == user, _credentials.c.id == id)
        return await self._deleted(query)


class _Columns:
    """Attribute access to a dict of column values (for rows of a join)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)
