"""Project secrets in MongoDB: one document per secret, `_id` `project/name`, value sealed.

Deleting a project deletes its secrets (`CatalogStore.delete_project`).
"""

from __future__ import annotations

from collections.abc import Collection

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from podium_model.secrets import SecretInfo
from podium_storage.interface import SecretRecord, StorageError
from podium_storage.mongo.base import Document, MongoBase, key, ms, now_ms, translate_errors


def _info(document: Document) -> SecretInfo:
    return SecretInfo(name=document["name"], created_at=document["created_at"], updated_at=document["updated_at"])


class SecretStore(MongoBase):
    """The secret methods of `MongoStorage`."""

    async def put_secret(self, project: str, name: str, sealed: str) -> SecretInfo:
        """Create or replace a project's secret."""
        now = now_ms()
        with translate_errors():
            if await self._db.projects.find_one({"_id": project}, {"_id": 1}) is None:
                raise StorageError(f"unknown project {project!r}")
            changes = {"sealed": sealed, "updated_at": now}
            document = await self._db.secrets.find_one_and_update(
                {"_id": key(project, name)}, {"$set": changes}, return_document=ReturnDocument.AFTER
            )
            if document is None:
                document = {"_id": key(project, name), "project": project, "name": name, "created_at": now, **changes}
                try:
                    await self._db.secrets.insert_one(document)
                except DuplicateKeyError:  # set meanwhile by another caller: this one replaces it
                    document = await self._db.secrets.find_one_and_update(
                        {"_id": key(project, name)}, {"$set": changes}, return_document=ReturnDocument.AFTER
                    )
                    if document is None:
                        raise StorageError(f"secret {name} of {project} changed concurrently; retry") from None
        return _info(document)

    async def list_secrets(self, project: str) -> list[SecretInfo]:
        """The secrets of a project, by name."""
        with translate_errors():
            return [_info(d) async for d in self._db.secrets.find({"project": project}).sort("name", 1)]

    async def get_sealed_secrets(self, project: str, names: Collection[str]) -> dict[str, str]:
        """Name → sealed value of those of `names` the project holds."""
        if not names:
            return {}
        ids = [key(project, name) for name in names]
        with translate_errors():
            cursor = self._db.secrets.find({"_id": {"$in": ids}}, {"name": 1, "sealed": 1})
            return {document["name"]: document["sealed"] async for document in cursor}

    async def delete_secret(self, project: str, name: str) -> bool:
        """Delete a secret; False if unknown."""
        with translate_errors():
            result = await self._db.secrets.delete_one({"_id": key(project, name)})
        return result.deleted_count > 0

    async def export_secrets(self) -> list[SecretRecord]:
        """Every secret, sealed, by project and name."""
        with translate_errors():
            cursor = self._db.secrets.find().sort([("project", 1), ("name", 1)])
            documents = [document async for document in cursor]
        return [
            SecretRecord(
                project=document["project"],
                name=document["name"],
                sealed=document["sealed"],
                created_at=document["created_at"],
                updated_at=document["updated_at"],
            )
            for document in documents
        ]

    async def reseal_secret(self, project: str, name: str, old: str, new: str) -> bool:
        """Replace the sealed value `old` by `new`, keeping the dates; False if it changed meanwhile."""
        with translate_errors():
            result = await self._db.secrets.update_one(
                {"_id": key(project, name), "sealed": old}, {"$set": {"sealed": new}}
            )
        return result.matched_count > 0

    async def import_secret(self, secret: SecretRecord) -> None:
        """Store a sealed secret as is."""
        with translate_errors():
            if await self._db.projects.find_one({"_id": secret.project}, {"_id": 1}) is None:
                raise StorageError(f"unknown project {secret.project!r}")
            document = secret.model_dump()
            document["created_at"], document["updated_at"] = ms(secret.created_at), ms(secret.updated_at)
            await self._db.secrets.insert_one({"_id": key(secret.project, secret.name), **document})
