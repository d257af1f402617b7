"""The MongoDB connection, the mapping of driver errors to storage errors, and value helpers.

Free-form maps whose keys users choose (job definitions, properties, parameters, results,
project services) are stored as JSON text: MongoDB restricts field names with `.` or a
leading `$`, and Podium never queries inside those maps, so text keeps every key intact.
Dates are BSON dates, which hold milliseconds: every date is cut to the millisecond before it
is written, so what a method returns equals what a later read returns.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConfigurationError, DuplicateKeyError, InvalidURI, PyMongoError

from podium_model import utcnow
from podium_storage.interface import AlreadyExists, StorageError, StorageUnavailable
from podium_storage.refusals import refusal
from podium_storage.urls import UnsupportedDatabaseUrl

logger = logging.getLogger(__name__)

DEFAULT_DATABASE = "podium"
"""The database used when the URL names none (`mongodb://host:port/`)."""

Document = dict[str, Any]


def connect(url: str, server_timeout_ms: int = 5000) -> tuple[AsyncMongoClient[Document], AsyncDatabase[Document]]:
    """A client for `url` (not yet connected) and the database its path names.

    Raises:
        UnsupportedDatabaseUrl: the URL is not a valid MongoDB URL.
    """
    try:
        client: AsyncMongoClient[Document] = AsyncMongoClient(
            url, tz_aware=True, serverSelectionTimeoutMS=server_timeout_ms, connectTimeoutMS=server_timeout_ms
        )
    except (InvalidURI, ConfigurationError, ValueError, TypeError) as exc:
        raise UnsupportedDatabaseUrl(f"malformed MongoDB URL: {exc}") from None
    return client, client.get_default_database(DEFAULT_DATABASE)


@contextmanager
def translate_errors() -> Iterator[None]:
    """Turn driver errors into storage errors.

    Raises:
        AlreadyExists: a unique index refused a write.
        StorageUnavailable: the server refuses service now (`podium_storage.refusals`).
        StorageError: any other driver error.
    """
    try:
        yield
    except DuplicateKeyError as exc:
        raise AlreadyExists(str(exc.details.get("errmsg") if exc.details else exc)) from None
    except PyMongoError as exc:
        if refusal(exc):  # server selection, not primary, shutdown... (`podium_storage.refusals`)
            logger.warning("MongoDB unavailable: %s", exc)
            raise StorageUnavailable(f"MongoDB unavailable: {exc}") from exc
        raise StorageError(f"MongoDB error: {exc}") from exc


def ms(value: datetime | None) -> datetime | None:
    """`value` cut to the millisecond, the precision of a BSON date."""
    return None if value is None else value.replace(microsecond=value.microsecond // 1000 * 1000)


def now_ms() -> datetime:
    """The current UTC time, cut to the millisecond."""
    value = utcnow()
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def dump(value: Any) -> str:
    """A free-form value as compact JSON text."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def load(text: Any, default: Any) -> Any:
    """A free-form value back from JSON text (`default` when absent)."""
    if text is None:
        return default
    return json.loads(text)


def key(project: str, id: str) -> str:
    """The `_id` of a document that belongs to a project (slugs never hold `/`)."""
    return f"{project}/{id}"


class MongoBase:
    """Holds the client and the database; every storage method runs through `translate_errors`."""

    def __init__(self, client: AsyncMongoClient[Document], db: AsyncDatabase[Document]) -> None:
        self._client = client
        self._db = db

    @property
    def database_name(self) -> str:
        """The name of the database this storage uses."""
        return self._db.name

    async def _set(self, collection: AsyncCollection[Document], id: str, values: Document) -> Document | None:
        """Write `values` and `updated_at` into the document `id`; the new document, None if unknown."""
        with translate_errors():
            return await collection.find_one_and_update(
                {"_id": id}, {"$set": {**values, "updated_at": now_ms()}}, return_document=ReturnDocument.AFTER
            )
