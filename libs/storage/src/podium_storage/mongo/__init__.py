"""The MongoDB implementation of the storage interface (PyMongo's `AsyncMongoClient`).

- `await MongoStorage.open("mongodb://host:port/dbname")` (database default `podium`);
- `await migrate_mongo(url)`: numbered, idempotent migrations with a `schema_version` document.
"""

from podium_storage.mongo.migrations import LATEST_VERSION, migrate_mongo
from podium_storage.mongo.storage import MongoStorage

__all__ = ["LATEST_VERSION", "MongoStorage", "migrate_mongo"]
