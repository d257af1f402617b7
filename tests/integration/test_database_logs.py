"""Logs in the database (`--log-store database`, PostgreSQL): master and api share no directory.

The master and the api each get a log directory of their own (as on two hosts); the run's
log reaches the api through PostgreSQL only: its bytes, its live stream and its archive.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import tarfile
from collections.abc import Iterator

import httpx
import pytest

from tests.databases import fresh_database
from tests.stack import ADMIN_PASSWORD, Stack, admin
from tests.support import wait_until

pytestmark = pytest.mark.postgres

LOG_BYTES = 3_000_000
"""Larger than the api's stream and archive chunks, and than many of the worker's 64 KiB chunks."""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """master and api on PostgreSQL with the database log store and separate log directories, one worker."""
    directory = tmp_path_factory.mktemp("database-logs")
    source = directory / "source.txt"
    source.write_bytes(base64.encodebytes(os.urandom(LOG_BYTES * 3 // 4)))
    gate = directory / "gate"
    config = directory / "podium.yaml"
    config.write_text(
        json.dumps(
            {
                "projects": [
                    {
                        "id": "demo",
                        "jobs": [
                            {
                                "id": "log",
                                "definition": {
                                    "type": "job",
                                    "commands": [
                                        ["sh", "-c", f"echo waiting; while [ ! -e {gate} ]; do sleep 0.05; done"],
                                        ["cat", str(source)],
                                    ],
                                },
                            }
                        ],
                    }
                ]
            }
        )
    )
    with fresh_database("postgresql", directory) as url:
        stack = Stack(directory, url)
        try:
            stack.prepare()
            admin(url, "apply", str(config))
            stack.start_master("--log-store", "database", "--log-dir", str(directory / "master-logs"))
            stack.start_api("--log-store", "database", "--log-dir", str(directory / "api-logs"))
            stack.start_worker("w1")
            yield stack
        finally:
            stack.stop()


async def _stream(api_url: str, project: str, run_id: str, following: asyncio.Event) -> tuple[bytes, str]:
    """Follow the run's live log (SSE) to its `end` event: the bytes and the final status.

    `following` is set once the first bytes arrived: the stream is live from then on.
    """
    async with httpx.AsyncClient(base_url=f"{api_url}/api/v1", timeout=60) as client:
        login = await client.post("/me/login", json={"user": "admin", "password": ADMIN_PASSWORD})
        client.headers["Authorization"] = f"Bearer {login.json()['token']}"
        received = bytearray()
        event = ""
        async with client.stream("GET", f"/projects/{project}/runs/{run_id}/log/stream") as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    data = json.loads(line.removeprefix("data: "))
                    if event == "log":
                        assert data["offset"] == len(received)
                        received.extend(data["data"].encode())
                        following.set()
                    elif event == "end":
                        return bytes(received), str(data["status"])
    raise AssertionError("the stream ended without an end event")


def test_log_stream_and_archive_come_from_the_database(stack: Stack) -> None:
    """The api, sharing no directory with the master, serves the log byte-exact, live and archived."""
    directory = stack.directory
    run = stack.trigger("demo", "log")
    wait_until(lambda: stack.log("demo", run["id"]) == b"waiting\n", 60, "the first line through PostgreSQL")
    loop = asyncio.new_event_loop()
    try:
        following = asyncio.Event()
        streaming = loop.create_task(_stream(stack.api_url, "demo", run["id"], following))
        loop.run_until_complete(asyncio.wait_for(following.wait(), 60))  # live before the bulk is written
        (directory / "gate").touch()
        streamed, status = loop.run_until_complete(asyncio.wait_for(streaming, 120))
    finally:
        loop.close()
    done = stack.wait_run("demo", run["id"], timeout=120)
    assert done["status"] == "succeeded" and status == "succeeded", stack.outputs()
    expected = b"waiting\n" + (directory / "source.txt").read_bytes()
    assert streamed == expected
    assert stack.log("demo", run["id"]) == expected
    assert stack.log("demo", run["id"], offset=LOG_BYTES // 2) == expected[LOG_BYTES // 2 :]
    archive = stack.client.get(f"/projects/demo/runs/{run['id']}/archive", timeout=60)
    assert archive.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(archive.content), mode="r:gz") as tar:
        member = tar.extractfile(f"{run['id']}/log.txt")
        assert member is not None and member.read() == expected
    for own in ("master-logs", "api-logs"):  # neither process wrote a log file
        assert not list((directory / own).rglob("*.log")), own
