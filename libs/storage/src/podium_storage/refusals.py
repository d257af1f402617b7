"""Which driver errors mean "the database refuses service now": one place for the three backends.

A database that is away, starting, shutting down, full of clients, failing over or busy answers
with errors of many shapes: SQLite's busy and locked errors, PostgreSQL's refusals while
connecting (`not currently accepting connections`, `the database system is starting up`, `too
many clients`) and its terminated backends, which asyncpg reports as a plain `DBAPIError` with
a SQLSTATE, sockets that close or never open, MongoDB's server selection and not-primary
errors. Every one of them is `StorageUnavailable` (`refusal` says so): the api answers 503 with
`Retry-After`, the master counts it (`podium_master_storage_errors_total`) and retries. Anything
else stays what it is: a bug or a refused write is not a reason to retry.
"""

from __future__ import annotations

import sqlite3

from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

SQLSTATE_CLASSES = ("08", "53", "57P")
"""PostgreSQL SQLSTATE prefixes of refusals: connection exceptions (08), insufficient resources
such as `too many clients` or a full disk (53), and operator intervention: administrator or crash
shutdown, `the database system is starting up` (57P01-57P03)."""
SQLSTATES = frozenset({"25006"})
"""Single SQLSTATEs of refusals: a read-only transaction, i.e. a standby that is not primary (25006)."""
NOT_ACCEPTING = ("55000", "not currently accepting connections")
"""`ALTER DATABASE ... ALLOW_CONNECTIONS false` refuses with a generic SQLSTATE: known by its message."""
SQLITE_MESSAGES = ("database is locked", "database table is locked", "database is busy")

MONGO_CODES = frozenset({6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436})
"""MongoDB server error codes of refusals: host unreachable or not found, network timeout, shutdown
in progress, primary stepped down, exceeded time limit, socket exception, not writable primary,
interrupted at shutdown or by a replica set state change, not primary (no secondary ok / or secondary)."""
MONGO_LABELS = ("RetryableWriteError", "TransientTransactionError")


def refusal(exc: BaseException) -> bool:
    """True when `exc` (a driver error, as raised or wrapped by SQLAlchemy) is a refusal to serve now."""
    if isinstance(exc, (OSError, TimeoutError)):
        return True  # a socket that does not open, closes, or times out
    if isinstance(exc, PyMongoError):
        return _mongo_refusal(exc)
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True  # SQLite's busy, locked, I/O and full-disk errors; a closed connection
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        return _postgres_refusal(exc.orig) or _postgres_refusal(getattr(exc.orig, "__cause__", None))
    if isinstance(exc, sqlite3.OperationalError):
        return any(message in str(exc) for message in SQLITE_MESSAGES)
    return _postgres_refusal(exc)  # a raw asyncpg error (its `sqlstate`)


def _postgres_refusal(exc: BaseException | None) -> bool:
    """A PostgreSQL error (asyncpg's, or SQLAlchemy's adaptation of it) whose SQLSTATE is a refusal."""
    state = getattr(exc, "sqlstate", None)
    if not isinstance(state, str):
        return False
    if state.startswith(SQLSTATE_CLASSES) or state in SQLSTATES:
        return True
    return state == NOT_ACCEPTING[0] and NOT_ACCEPTING[1] in str(exc)


def _mongo_refusal(exc: PyMongoError) -> bool:
    """Server selection, network and not-primary errors, and the server codes of shutdowns and elections."""
    if isinstance(exc, ConnectionFailure):  # AutoReconnect, NotPrimaryError, NetworkTimeout, server selection
        return True
    if any(exc.has_error_label(label) for label in MONGO_LABELS):
        return True
    return isinstance(exc, OperationFailure) and exc.code in MONGO_CODES
