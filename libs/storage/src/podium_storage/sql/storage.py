"""`SqlStorage`: the `Storage` interface on SQLAlchemy's async engine (SQLite or PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL

from podium_storage.interface import Storage
from podium_storage.leadership import Leadership, SoleLeadership
from podium_storage.logs import SQLITE_DATABASE_LOGS, LogStore
from podium_storage.sql.access import AccessStore
from podium_storage.sql.accounts import AccountStore
from podium_storage.sql.audit import AuditStore
from podium_storage.sql.backup import BackupStore
from podium_storage.sql.catalog import CatalogStore
from podium_storage.sql.deliveries import DeliveryStore
from podium_storage.sql.leadership import AdvisoryLeadership
from podium_storage.sql.logs import SqlLogStore
from podium_storage.sql.runs import RunStore
from podium_storage.sql.secrets import SecretStore
from podium_storage.sql.wakeups import NotifyWakeups
from podium_storage.urls import is_sqlite
from podium_storage.wakeups import NoWakeups, Wakeups


class SqlStorage(
    CatalogStore, RunStore, DeliveryStore, AccountStore, AccessStore, AuditStore, SecretStore, BackupStore, Storage
):
    """Everything Podium persists, in a SQL database.

    Each operation is one short transaction committed at once; rows become `podium_model`
    objects before they leave. Build it with `podium_storage.open_storage(url)`.
    """

    def __init__(self, url: URL) -> None:
        super().__init__(url)

    def leadership(self) -> Leadership:
        """An advisory lock on PostgreSQL (several masters may share it); SQLite has one master."""
        return SoleLeadership() if is_sqlite(self.url) else AdvisoryLeadership(self.url)

    def database_logs(self, artifacts: Path | None) -> LogStore:
        """The logs as chunks in `log_chunks` (`sql.logs`), on PostgreSQL: a SQLite database serves one
        host, where the directory store does the same.

        Raises:
            ValueError: on SQLite (`logs.check_log_store`).
        """
        if is_sqlite(self.url):
            raise ValueError(SQLITE_DATABASE_LOGS)
        return SqlLogStore(self, artifacts)

    @property
    def announces_new_runs(self) -> bool:
        """PostgreSQL: every insert into `runs` notifies the masters (migration 0015)."""
        return not is_sqlite(self.url)

    def wakeups(self) -> Wakeups:
        """`LISTEN podium_runs` on PostgreSQL (every insert into `runs` notifies it); SQLite has one master."""
        return NotifyWakeups(self.url) if self.announces_new_runs else NoWakeups()

    async def close(self) -> None:
        """Release connections."""
        await self._dispose()

    async def ping(self) -> None:
        """Check the database answers.

        Raises:
            StorageUnavailable: it does not.
        """
        await self._reading(lambda connection: connection.execute(text("SELECT 1")).scalar())
