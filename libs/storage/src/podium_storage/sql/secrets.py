"""Project secrets in SQL: sealed values, one row per (project, name)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from podium_model import utcnow
from podium_model.secrets import SecretInfo
from podium_storage.interface import SecretRecord
from podium_storage.sql.session import SqlBase, table
from podium_storage.sql.tables import SecretRow

_secrets = table(SecretRow)

# Built once: the master reads a run's secrets at each dispatch of a job that names some.
_GET_SEALED = select(_secrets.c.name, _secrets.c.sealed).where(
    _secrets.c.project == bindparam("project"), _secrets.c.name.in_(bindparam("names", expanding=True))
)


def _info(row: Any) -> SecretInfo:
    return SecretInfo(name=row.name, created_at=row.created_at, updated_at=row.updated_at)


class SecretStore(SqlBase):
    """The secret methods of `SqlStorage`."""

    async def put_secret(self, project: str, name: str, sealed: str) -> SecretInfo:
        """Create or replace a project's secret."""
        now = utcnow()

        def put(session: Session) -> SecretInfo:
            row = session.get(SecretRow, (project, name))
            if row is None:
                row = SecretRow(project=project, name=name, sealed=sealed, created_at=now, updated_at=now)
                session.add(row)
            else:
                row.sealed = sealed
                row.updated_at = now
            return _info(row)

        return await self._orm(put)

    async def list_secrets(self, project: str) -> list[SecretInfo]:
        """The secrets of a project, by name."""
        query = select(_secrets).where(_secrets.c.project == project).order_by(_secrets.c.name)
        rows = await self._reading(lambda connection: connection.execute(query).all())
        return [_info(row) for row in rows]

    async def get_sealed_secrets(self, project: str, names: Collection[str]) -> dict[str, str]:
        """Name → sealed value of those of `names` the project holds."""
        if not names:
            return {}
        values = {"project": project, "names": list(names)}
        rows = await self._reading(lambda connection: connection.execute(_GET_SEALED, values).all())
        return {row.name: row.sealed for row in rows}

    async def delete_secret(self, project: str, name: str) -> bool:
        """Delete a secret; False if unknown."""
        return await self._deleted(delete(_secrets).where(_secrets.c.project == project, _secrets.c.name == name))

    async def export_secrets(self) -> list[SecretRecord]:
        """Every secret, sealed, by project and name."""
        query = select(_secrets).order_by(_secrets.c.project, _secrets.c.name)
        rows = await self._reading(lambda connection: connection.execute(query).all())
        return [SecretRecord.model_validate(dict(row._mapping)) for row in rows]

    async def reseal_secret(self, project: str, name: str, old: str, new: str) -> bool:
        """Replace the sealed value `old` by `new`, keeping the dates; False if it changed meanwhile."""
        query = (
            update(_secrets)
            .where(_secrets.c.project == project, _secrets.c.name == name, _secrets.c.sealed == old)
            .values(sealed=new)
        )
        return await self._deleted(query)

    async def import_secret(self, secret: SecretRecord) -> None:
        """Store a sealed secret as is."""
        statement = _secrets.insert().values(**secret.model_dump())
        await self._writing(lambda connection: connection.execute(statement))
