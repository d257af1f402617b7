"""Fixtures of the api tests: a migrated, seeded database and the api app served in-process.

The app runs with its real lifespan (it opens its own storage from the URL); requests go
through `httpx.ASGITransport`. Each role gets a user and a token.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from podium_api.app import create_app
from podium_api.settings import ApiSettings
from podium_model.config import JobConfig
from podium_model.users import Role
from podium_storage import migrate, open_storage
from podium_storage.auth import hash_password, hash_token, new_token
from podium_storage.interface import Storage
from podium_storage.logs import DirectoryLogStore, LogStore
from podium_storage.sealing import generate_key
from tests.api.recording_master import RecordingMaster
from tests.stack import admin
from tests.support import Service, free_port

ADMIN_PASSWORD = "admin-password"
ROLE_USERS: dict[str, list[Role]] = {
    "admin": [Role.administrator],
    "operator": [Role.operator],
    "viewer": [Role.viewer],
    "auditor": [Role.auditor],
    "worker": [Role.worker],
    "plain": [],
}

JOBS: list[dict[str, Any]] = [
    {
        "id": "hello",
        "parameters": [{"key": "name", "description": "Who", "default": "world"}],
        "definition": {"type": "job", "commands": [["echo", "hello {parameters.name}"]]},
    },
    {
        "id": "strict",
        "parameters": [{"key": "target", "required": True}, {"key": "mode"}],
        "definition": {"type": "job", "commands": [["echo", "{parameters.target}"]]},
    },
    {"id": "off", "definition": {"type": "job", "commands": [["true"]]}},
]


@dataclass
class Api:
    """The in-process api: an httpx client, the tokens of each role, and a storage to arrange data."""

    client: httpx.AsyncClient
    storage: Storage
    logs: LogStore
    settings: ApiSettings
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        """Headers authenticating as the user `who` (no header for "anonymous")."""
        return {} if who == "anonymous" else {"Authorization": f"Bearer {self.tokens[who]}"}


@functools.cache
def admin_password_hash() -> str:
    """The Argon2id hash of ADMIN_PASSWORD, computed once (hashing is slow on purpose)."""
    return hash_password(ADMIN_PASSWORD)


@asynccontextmanager
async def serve(app: FastAPI, **client_options: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Run `app`'s lifespan and give a client talking to it in-process.

    The lifespan state is copied into each request's scope, as uvicorn does.
    """
    async with app.router.lifespan_context(app) as state:

        async def asgi(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] in ("http", "websocket"):
                scope = {**scope, "state": dict(state or {})}
            await app(scope, receive, send)

        transport = httpx.ASGITransport(app=asgi, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://api", **client_options) as client:
            yield client


async def seed(storage: Storage) -> dict[str, str]:
    """Users of every role (tokens returned), the administrator's password and project `demo`."""
    tokens: dict[str, str] = {}
    for user, roles in ROLE_USERS.items():
        await storage.create_user(user, user.title(), roles)
        token = new_token()
        await storage.add_credential(user, "token", hash_token(token), "test")
        tokens[user] = token
    await storage.add_credential("admin", "password", admin_password_hash())
    await storage.put_project("demo", "Demo")
    for job in JOBS:
        await storage.put_job("demo", JobConfig.model_validate(job))
    await storage.set_job_enabled("demo", "off", False)
    return tokens


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    """The api app on a migrated, seeded database; the master URL points at a closed port."""
    await migrate(database_url)
    settings = ApiSettings(
        database_url=database_url,
        log_dir=tmp_path / "logs",
        master_url=f"http://127.0.0.1:{free_port()}",
        control_secret="test-secret",
        secrets_key=generate_key(),
        master_timeout=1.0,
    )
    async with open_storage(database_url) as storage:
        tokens = await seed(storage)
        async with serve(create_app(settings)) as client:
            yield Api(client, storage, DirectoryLogStore(settings.log_dir), settings, tokens)


SECRET = "process-test-secret"
CONFIG = """
projects:
  - id: demo
    jobs:
      - id: hello
        parameters:
          - {key: name, default: world}
        definition:
          type: job
          commands: [["echo", "hello {parameters.name}"]]
"""


@pytest.fixture
def master() -> Iterator[RecordingMaster]:
    """A recording stand-in of the master's control API."""
    recorder = RecordingMaster(SECRET).start()
    yield recorder
    recorder.stop()


@dataclass
class ApiProcess:
    """A running `podium-api`: its /api/v1 URL, database, log directory and process."""

    url: str
    database_url: str
    log_dir: Path
    service: Service

    def __str__(self) -> str:
        return self.url


@pytest.fixture
def api_process(database_url: str, tmp_path: Path, master: RecordingMaster) -> Iterator[ApiProcess]:
    """`podium-api` started with flags on a prepared database."""
    with started_api(database_url, tmp_path, "--master-url", master.url) as process:
        yield process


@contextmanager
def started_api(database_url: str, tmp_path: Path, *flags: str) -> Iterator[ApiProcess]:
    """`podium-api` on a prepared database, given `flags` (the masters' URLs) and the control secret."""
    admin(database_url, "migrate")
    admin(database_url, "create-user", "admin", "--role", "administrator", "--password", "pw-admin-1")
    (tmp_path / "podium.yaml").write_text(CONFIG)
    admin(database_url, "apply", str(tmp_path / "podium.yaml"))
    port = free_port()
    argv = [
        "podium-api",
        "--port", str(port),
        "--database-url", database_url,
        "--log-dir", str(tmp_path / "logs"),
        *flags,
        "--control-secret", SECRET,
    ]  # fmt: skip
    service = Service("api", argv, env={"PODIUM_API_EVENTS_FALLBACK": "1"}, output_dir=tmp_path).start()
    url = f"http://127.0.0.1:{port}/api/v1"
    try:
        service.wait_http(f"{url}/health", timeout=90)  # start-up is slow on a loaded machine
        yield ApiProcess(url, database_url, tmp_path / "logs", service)
    finally:
        code = service.stop()
        assert code == 0, service.output
        assert "Traceback" not in service.output, service.output
