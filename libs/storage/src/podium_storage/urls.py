"""Database URLs: which implementation a URL selects, and its SQLAlchemy async form."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

_SQL_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}
_MONGO = ("mongodb", "mongodb+srv")


class UnsupportedDatabaseUrl(ValueError):
    """The URL names no database this version of Podium can use."""


def sql_url(url: str) -> URL:
    """The SQLAlchemy async URL for a Podium database URL.

    `sqlite://` becomes `sqlite+aiosqlite://`, `postgres://` and `postgresql://` become
    `postgresql+asyncpg://`.

    Raises:
        UnsupportedDatabaseUrl: the URL is malformed or its scheme is not a supported SQL one.
    """
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in _MONGO:
        raise UnsupportedDatabaseUrl(f"{scheme}:// is a MongoDB URL, not a SQL one")
    driver = _SQL_DRIVERS.get(scheme)
    if driver is None:
        raise UnsupportedDatabaseUrl(
            f"unsupported database URL scheme {scheme or '(none)'!r}: expected sqlite+aiosqlite://, sqlite://, "
            "postgresql://, postgres:// or postgresql+asyncpg://"
        )
    try:
        parsed = make_url(driver + url[len(scheme) :])
    except (ArgumentError, ValueError) as exc:
        raise UnsupportedDatabaseUrl(f"malformed database URL: {exc}") from None
    if driver.startswith("sqlite") and not parsed.database:
        raise UnsupportedDatabaseUrl("a SQLite URL needs a file path, e.g. sqlite+aiosqlite:///./.podium/podium.db")
    return parsed


def is_mongo(url: str) -> bool:
    """True for a MongoDB URL (`mongodb://` or `mongodb+srv://`)."""
    return url.split("://", 1)[0].lower() in _MONGO


def is_sqlite(url: URL) -> bool:
    """True for a SQLite URL."""
    return url.get_backend_name() == "sqlite"


def ensure_sqlite_directory(url: URL) -> None:
    """Create the directory of a SQLite database file if it is missing (no-op for other URLs)."""
    if is_sqlite(url) and url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
