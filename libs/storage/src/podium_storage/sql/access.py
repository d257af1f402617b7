"""Grants and groups in SQL."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import and_, bindparam, delete, or_, select
from sqlalchemy.orm import Session

from podium_model import utcnow
from podium_model.access import Grant, GranteeKind, Group, ProjectRole, strongest_roles
from podium_storage.interface import StorageError
from podium_storage.sql.session import SqlBase, table
from podium_storage.sql.tables import GrantRow, GroupMemberRow, GroupRow, ProjectRow, UserRow

_grants = table(GrantRow)
_groups = table(GroupRow)
_members = table(GroupMemberRow)
_users = table(UserRow)

# Every authorized request of a user runs this: built once (SQLAlchemy keeps its cache key).
_GRANTS_OF = select(_grants.c.project, _grants.c.role).where(
    or_(
        and_(_grants.c.kind == "user", _grants.c.name == bindparam("user")),
        and_(
            _grants.c.kind == "group",
            _grants.c.name.in_(select(_members.c.group_id).where(_members.c.user_id == bindparam("user"))),
        ),
    )
)


def _grant(row: Any) -> Grant:
    return Grant(
        project=row.project,
        kind=row.kind,
        name=row.name,
        role=ProjectRole(row.role),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class AccessStore(SqlBase):
    """The grant and group methods of `SqlStorage`."""

    async def put_grant(self, project: str, kind: GranteeKind, name: str, role: ProjectRole) -> Grant:
        """Give the user or group `name` the role `role` on `project`, replacing the role it had there.

        Raises:
            StorageError: the project is unknown.
        """
        now = utcnow()

        def put(session: Session) -> Grant:
            if session.get(ProjectRow, project) is None:
                raise StorageError(f"unknown project {project!r}")
            row = session.get(GrantRow, (project, kind, name))
            if row is None:
                row = GrantRow(project=project, kind=kind, name=name, role=role.value, created_at=now, updated_at=now)
                session.add(row)
            elif row.role != role.value:
                row.role, row.updated_at = role.value, now
            return _grant(row)

        return await self._orm(put)

    async def delete_grant(self, project: str, kind: GranteeKind, name: str) -> bool:
        """Remove a grant; False if there was none."""
        query = delete(_grants).where(_grants.c.project == project, _grants.c.kind == kind, _grants.c.name == name)
        return await self._deleted(query)

    async def list_grants(self, project: str | None = None) -> list[Grant]:
        """The grants of a project (or all), by project, kind and name."""
        query = select(_grants).order_by(_grants.c.project, _grants.c.kind, _grants.c.name)
        if project is not None:
            query = query.where(_grants.c.project == project)
        rows = await self._reading(lambda connection: connection.execute(query).all())
        return [_grant(row) for row in rows]

    async def grants_of(self, user: str) -> dict[str, ProjectRole]:
        """The strongest role `user` holds on each project, directly or through a group (one query)."""
        rows = await self._reading(lambda connection: connection.execute(_GRANTS_OF, {"user": user}).all())
        return strongest_roles([(row.project, row.role) for row in rows])

    async def put_group(self, id: str, display_name: str = "", members: Collection[str] = ()) -> Group:
        """Create a group or replace its display name and members.

        Raises:
            StorageError: a member is not a user.
        """
        now = utcnow()
        wanted = sorted(set(members))

        def put(session: Session) -> Group:
            if wanted:
                known = set(session.execute(select(_users.c.id).where(_users.c.id.in_(wanted))).scalars())
                unknown = [member for member in wanted if member not in known]
                if unknown:
                    raise StorageError(f"unknown users {unknown[:10]!r}")
            row = session.get(GroupRow, id)
            if row is None:
                row = GroupRow(id=id, display_name=display_name, created_at=now, updated_at=now)
                session.add(row)
                session.flush()
            else:
                row.display_name, row.updated_at = display_name, now
                session.execute(delete(_members).where(_members.c.group_id == id))
            if wanted:
                session.execute(_members.insert(), [{"group_id": id, "user_id": user} for user in wanted])
            return Group(
                id=id, display_name=display_name, members=wanted, created_at=row.created_at, updated_at=row.updated_at
            )

        return await self._orm(put)

    async def get_group(self, id: str) -> Group | None:
        """One group."""
        groups = await self._groups(id)
        return groups[0] if groups else None

    async def list_groups(self) -> list[Group]:
        """Every group, by id."""
        return await self._groups(None)

    async def _groups(self, id: str | None) -> list[Group]:
        groups = select(_groups).order_by(_groups.c.id)
        members = select(_members).order_by(_members.c.group_id, _members.c.user_id)
        if id is not None:
            groups, members = groups.where(_groups.c.id == id), members.where(_members.c.group_id == id)

        def read(connection: Any) -> tuple[list[Any], list[Any]]:
            return connection.execute(groups).all(), connection.execute(members).all()

        group_rows, member_rows = await self._reading(read)
        by_group: dict[str, list[str]] = {}
        for member in member_rows:
            by_group.setdefault(member.group_id, []).append(member.user_id)
        return [
            Group(
                id=row.id,
                display_name=row.display_name,
                members=by_group.get(row.id, []),
                created_at=row.created_at,
                updated_at=row.updated_at,
            )
            for row in group_rows
        ]

    async def delete_group(self, id: str) -> bool:
        """Delete a group with its grants (its memberships go with it); False if unknown."""

        def remove(connection: Any) -> bool:
            connection.execute(delete(_grants).where(_grants.c.kind == "group", _grants.c.name == id))
            return bool(connection.execute(delete(_groups).where(_groups.c.id == id)).rowcount)

        return await self._writing(remove)
