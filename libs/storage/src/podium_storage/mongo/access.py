"""Grants and groups in MongoDB.

A grant's `_id` is `project/kind/name` (slugs never hold `/`); a group document holds its
members as a sorted array, indexed, so a user's groups are one indexed query.
"""

from __future__ import annotations

from collections.abc import Collection

from podium_model.access import Grant, GranteeKind, Group, ProjectRole, strongest_roles
from podium_storage.interface import StorageError
from podium_storage.mongo.base import Document, MongoBase, now_ms, translate_errors


def _grant(document: Document) -> Grant:
    return Grant.model_validate({key: value for key, value in document.items() if key != "_id"})


def _group(document: Document) -> Group:
    return Group.model_validate(
        {
            "id": document["_id"],
            "display_name": document.get("display_name", ""),
            "members": document.get("members", []),
            "created_at": document["created_at"],
            "updated_at": document["updated_at"],
        }
    )


def _holding(user: str) -> Document:
    """The query of the groups holding `user` (`$in`, not a plain value: the test server matches
    array elements only so; a real MongoDB answers both alike, from the same index)."""
    return {"members": {"$in": [user]}}


class AccessStore(MongoBase):
    """The grant and group methods of `MongoStorage`."""

    async def put_grant(self, project: str, kind: GranteeKind, name: str, role: ProjectRole) -> Grant:
        """Give the user or group `name` the role `role` on `project`, replacing the role it had there.

        Raises:
            StorageError: the project is unknown.
        """
        now = now_ms()
        with translate_errors():
            if await self._db.projects.find_one({"_id": project}, {"_id": 1}) is None:
                raise StorageError(f"unknown project {project!r}")
            key = f"{project}/{kind}/{name}"
            stored = await self._db.grants.find_one({"_id": key})
            if stored is not None and stored["role"] == role.value:
                return _grant(stored)
            document: Document = {
                "_id": key,
                "project": project,
                "kind": kind,
                "name": name,
                "role": role.value,
                "created_at": now if stored is None else stored["created_at"],
                "updated_at": now,
            }
            await self._db.grants.replace_one({"_id": key}, document, upsert=True)
        return _grant(document)

    async def delete_grant(self, project: str, kind: GranteeKind, name: str) -> bool:
        """Remove a grant; False if there was none."""
        with translate_errors():
            result = await self._db.grants.delete_one({"_id": f"{project}/{kind}/{name}"})
        return result.deleted_count > 0

    async def list_grants(self, project: str | None = None) -> list[Grant]:
        """The grants of a project (or all), by project, kind and name."""
        query: Document = {} if project is None else {"project": project}
        with translate_errors():
            cursor = self._db.grants.find(query).sort([("project", 1), ("kind", 1), ("name", 1)])
            return [_grant(document) async for document in cursor]

    async def grants_of(self, user: str) -> dict[str, ProjectRole]:
        """The strongest role `user` holds on each project, directly or through a group.

        Two indexed queries (MongoDB has no join that beats them): the user's groups, then
        the grants naming the user or one of those groups.
        """
        with translate_errors():
            groups = [document["_id"] async for document in self._db.groups.find(_holding(user), {"_id": 1})]
            clauses: list[Document] = [{"kind": "user", "name": user}]
            if groups:
                clauses.append({"kind": "group", "name": {"$in": groups}})
            cursor = self._db.grants.find({"$or": clauses}, {"project": 1, "role": 1})
            pairs = [(document["project"], document["role"]) async for document in cursor]
        return strongest_roles(pairs)

    async def put_group(self, id: str, display_name: str = "", members: Collection[str] = ()) -> Group:
        """Create a group or replace its display name and members.

        Raises:
            StorageError: a member is not a user.
        """
        now = now_ms()
        wanted = sorted(set(members))
        with translate_errors():
            if wanted:
                found = self._db.users.find({"_id": {"$in": wanted}}, {"_id": 1})
                known = {document["_id"] async for document in found}
                unknown = [member for member in wanted if member not in known]
                if unknown:
                    raise StorageError(f"unknown users {unknown[:10]!r}")
            stored = await self._db.groups.find_one({"_id": id}, {"created_at": 1})
            document: Document = {
                "_id": id,
                "display_name": display_name,
                "members": wanted,
                "created_at": now if stored is None else stored["created_at"],
                "updated_at": now,
            }
            await self._db.groups.replace_one({"_id": id}, document, upsert=True)
        return _group(document)

    async def get_group(self, id: str) -> Group | None:
        """One group."""
        with translate_errors():
            document = await self._db.groups.find_one({"_id": id})
        return None if document is None else _group(document)

    async def list_groups(self) -> list[Group]:
        """Every group, by id."""
        with translate_errors():
            return [_group(document) async for document in self._db.groups.find().sort("_id", 1)]

    async def delete_group(self, id: str) -> bool:
        """Delete a group with its grants; False if unknown."""
        with translate_errors():
            await self._db.grants.delete_many({"kind": "group", "name": id})
            result = await self._db.groups.delete_one({"_id": id})
        return result.deleted_count > 0
