"""A MongoDB wire-protocol test server: nx-27017 (MongoDB on SQLite) on a free loopback port.

`mongo_server` (session scope) starts one server per test process in a temporary directory
and stops it at the end; `mongo_url` gives each test a fresh database name (nx-27017 keeps TTL
indexes across a drop, so a dropped database is never reused). With `CI=true` a server that
does not start fails the tests; elsewhere they are skipped with the reason.

Set `PODIUM_TEST_MONGO_URL` (e.g. `mongodb://127.0.0.1:27017`) to use a running server,
such as a real MongoDB 7, instead of starting one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from tests.support import CI, Service, free_port, python_module, wait_until

MONGO_URL = os.environ.get("PODIUM_TEST_MONGO_URL", "")
START_TIMEOUT = 20.0


def _unavailable(message: str) -> None:
    """Fail (CI) or skip (elsewhere) because no MongoDB test server is available."""
    if CI:
        pytest.fail(f"a MongoDB test server is required in CI: {message}")
    pytest.skip(f"no MongoDB test server: {message}")


def _answers(url: str) -> bool:
    """True if the server at `url` answers a ping."""
    client: MongoClient[dict[str, object]] = MongoClient(url, serverSelectionTimeoutMS=250, connectTimeoutMS=250)
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


def start_nx_server(directory: Path) -> tuple[Service, str]:
    """Start nx-27017 on a free port with its files in `directory`; the service and its base URL.

    Raises:
        RuntimeError: the server exited or did not answer in time (its output included).
    """
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    argv = python_module(
        "nx_27017.nx_27017",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(directory / "data"),
        "--log-file",
        str(directory / "nx-27017.log"),
        "--pid-file",
        str(directory / "nx-27017.pid"),
    )
    service = Service("nx-27017", argv, output_dir=directory, cwd=directory).start()
    url = f"mongodb://127.0.0.1:{port}"

    def ready() -> bool:
        if not service.alive():
            raise RuntimeError(f"nx-27017 exited early:\n{service.output}")
        return _answers(url)

    try:
        wait_until(ready, START_TIMEOUT, f"nx-27017 at {url}")
    except (RuntimeError, TimeoutError) as exc:
        service.kill()
        raise RuntimeError(f"{exc}\n{service.output}") from None
    return service, url


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL (`mongodb://127.0.0.1:PORT`) of a MongoDB test server for this test process."""
    if MONGO_URL:
        if not _answers(MONGO_URL):
            _unavailable(f"PODIUM_TEST_MONGO_URL={MONGO_URL} does not answer")
        yield MONGO_URL.rstrip("/")
        return
    try:
        service, url = start_nx_server(tmp_path_factory.mktemp("nx-27017"))
    except (OSError, RuntimeError) as exc:
        _unavailable(f"nx-27017 did not start: {exc}")
        raise  # unreachable: _unavailable fails or skips
    try:
        yield url
    finally:
        service.stop()


def fresh_database_url(base_url: str) -> str:
    """A URL naming a new, never used database on the server at `base_url`."""
    return f"{base_url}/podium_test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def mongo_url(mongo_server: str) -> str:
    """A URL naming a fresh database (not yet migrated) on the MongoDB test server."""
    return fresh_database_url(mongo_server)
