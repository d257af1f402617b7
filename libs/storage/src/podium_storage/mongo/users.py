"""Users and their credentials in MongoDB.

A credential document holds its secret hash (Argon2id for a password, SHA-256 for a token);
`_id` is a UUIDv7, so sorting by `_id` lists the newest first.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from podium_model import Credential, User, UserUpdate, new_id
from podium_model.access import ProjectPermission
from podium_model.users import CredentialKind, Role, role_names
from podium_storage.interface import StorageError
from podium_storage.mongo import convert
from podium_storage.mongo.base import Document, MongoBase, ms, now_ms, translate_errors


class UserStore(MongoBase):
    """The user and credential methods of `MongoStorage`."""

    async def create_user(self, id: str, display_name: str = "", roles: Collection[Role] = ()) -> User:
        """Create a user.

        Raises:
            AlreadyExists: the id is taken.
        """
        now = now_ms()
        document: Document = {
            "_id": id,
            "display_name": display_name,
            "roles": role_names(roles),
            "is_enabled": True,
            "created_at": now,
            "updated_at": now,
        }
        with translate_errors():
            await self._db.users.insert_one(document)
        return convert.user(document)

    async def get_user(self, id: str) -> User | None:
        """One user."""
        with translate_errors():
            document = await self._db.users.find_one({"_id": id})
        return None if document is None else convert.user(document)

    async def list_users(self) -> list[User]:
        """Every user, by id."""
        with translate_errors():
            return [convert.user(document) async for document in self._db.users.find().sort("_id", 1)]

    async def update_user(self, id: str, changes: UserUpdate) -> User | None:
        """Write the fields set in `changes`; None if unknown."""
        values = {name: value for name, value in changes.model_dump(exclude_unset=True).items() if value is not None}
        if "roles" in values:
            values["roles"] = role_names(values["roles"])
        document = await self._set(self._db.users, id, values)
        return None if document is None else convert.user(document)

    async def delete_user(self, id: str) -> bool:
        """Delete a user with their credentials, grants and group memberships; False if unknown."""
        with translate_errors():
            result = await self._db.users.delete_one({"_id": id})
            await self._db.credentials.delete_many({"user": id})
            await self._db.grants.delete_many({"kind": "user", "name": id})
            await self._db.groups.update_many({"members": {"$in": [id]}}, {"$pull": {"members": id}})
        return result.deleted_count > 0

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
        """
        document: Document = {
            "_id": new_id(),
            "user": user,
            "kind": kind,
            "secret_hash": secret_hash,
            "description": description,
            "expires_at": ms(expires_at),
            "created_at": now_ms(),
            "projects": None if projects is None else sorted(set(projects)),
            "operations": None if operations is None else sorted({ProjectPermission(o).value for o in operations}),
        }
        with translate_errors():
            if await self._db.users.find_one({"_id": user}, {"_id": 1}) is None:
                raise StorageError(f"unknown user {user!r}")
            await self._db.credentials.insert_one(document)
            if kind == "password":
                # Insert first, then drop the older ones: a password always exists meanwhile.
                await self._db.credentials.delete_many(
                    {"user": user, "kind": "password", "_id": {"$ne": document["_id"]}}
                )
        return convert.credential(document)

    async def list_credentials(self, user: str, kind: CredentialKind | None = None) -> list[Credential]:
        """Credentials of a user, newest first."""
        query: Document = {"user": user}
        if kind is not None:
            query["kind"] = kind
        with translate_errors():
            cursor = self._db.credentials.find(query).sort("_id", -1)
            return [convert.credential(document) async for document in cursor]

    async def get_password_hash(self, user: str) -> str | None:
        """The stored password hash of a user, if any."""
        with translate_errors():
            document = await self._db.credentials.find_one({"user": user, "kind": "password"}, sort=[("_id", -1)])
        return None if document is None else str(document["secret_hash"])

    async def find_token(self, secret_hash: str) -> tuple[Credential, User] | None:
        """The token credential with that SHA-256 hash, and its user (expiry not checked)."""
        with translate_errors():
            document = await self._db.credentials.find_one({"secret_hash": secret_hash, "kind": "token"})
            if document is None:
                return None
            owner = await self._db.users.find_one({"_id": document["user"]})
        return None if owner is None else (convert.credential(document), convert.user(owner))

    async def delete_credential(self, user: str, id: str) -> bool:
        """Revoke a credential; False if unknown."""
        with translate_errors():
            result = await self._db.credentials.delete_one({"_id": id, "user": user})
        return result.deleted_count > 0
