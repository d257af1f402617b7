"""Logs in the database (`--log-store database`, PostgreSQL): masters and api share no directory.

The master and the api each get a log directory of their own (as on two hosts); the run's
log reaches the api through PostgreSQL only: its bytes, its live stream and its archive. Then
the same with two masters, a worker on each: the logs of runs on both masters, and of a run
whose master is SIGKILLed half-way (its worker moves to the other, which appends the rest
after what the database holds).
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import os
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.databases import fresh_database
from tests.master.conftest import START_TIMEOUT
from tests.master.test_several_masters import Masters, _connected_to
from tests.stack import ADMIN_PASSWORD, Stack, admin
from tests.support import wait_until

pytestmark = pytest.mark.postgres
logger = logging.getLogger(__name__)

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


HALF_LINES = 3000
"""Lines job `big-*` prints before its gate, and again after: about 440 KB each."""
BATCH = 300
"""The second half comes in batches of this many lines, 0.1 s apart: a master can die mid-log."""
CHUNK_SIZE = 16384
"""The workers' `--chunk-size`: each half of a log reaches the database in at least 20 chunks."""
PAD = "x" * 80
LOG_SCRIPT = (
    f'i=0; while [ $i -lt {HALF_LINES} ]; do i=$((i+1)); echo "$PODIUM_RUN_ID line $i of the first half {PAD}"; done;'
    ' until [ -e "$PODIUM_PARAM_GATE" ]; do sleep 0.05; done;'
    f' while [ $i -lt {2 * HALF_LINES} ]; do i=$((i+1)); echo "$PODIUM_RUN_ID line $i of the second half {PAD}";'
    f" if [ $((i % {BATCH})) -eq 0 ]; then sleep 0.1; fi; done"
)
SIDES = {"a": "w1", "b": "w2"}
"""Job `big-<side>` runs on worker w<n> only (`--property side=<side>`), which names master <side> first."""


def _expected(run_id: str, halves: int = 2) -> bytes:
    """What job `big-*` prints for run `run_id`: its first half, or the whole log."""
    lines = range(1, halves * HALF_LINES + 1)
    half = {True: "first", False: "second"}
    return "".join(f"{run_id} line {i} of the {half[i <= HALF_LINES]} half {PAD}\n" for i in lines).encode()


def _archived_log(stack: Stack, run_id: str) -> bytes:
    """The log.txt of the run's archive, as the api serves it."""
    archive = stack.client.get(f"/projects/demo/runs/{run_id}/archive", timeout=60)
    assert archive.status_code == 200, archive.text
    with tarfile.open(fileobj=io.BytesIO(archive.content), mode="r:gz") as tar:
        member = tar.extractfile(f"{run_id}/log.txt")
        assert member is not None
        return member.read()


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[Stack, Masters]]:
    """Masters a and b and the api, each with the database log store and a log directory of its own.

    Worker w1 (side=a) names master a first, w2 (side=b) master b first; each names the other next.
    """
    jobs = [
        {
            "id": f"big-{side}",
            "properties": {"side": side},
            "parameters": [{"key": "gate"}],
            "definition": {"type": "job", "commands": [["sh", "-c", LOG_SCRIPT]]},
        }
        for side in SIDES
    ]
    config = tmp_path / "podium.yaml"
    config.write_text(json.dumps({"projects": [{"id": "demo", "jobs": jobs}]}))
    database = ("--log-store", "database")
    with fresh_database("postgresql", tmp_path) as url:
        stack = Stack(tmp_path, url, config)
        masters = Masters(stack)
        try:
            stack.prepare()
            for side in SIDES:  # side by side: their start is the slow part
                masters.start(side, *database, wait=False, log_dir=tmp_path / f"master-{side}-logs")
            for side in SIDES:
                masters.wait(side)
            stack.start_api(*database, "--log-dir", str(tmp_path / "api-logs"), masters=tuple(map(masters.url, SIDES)))
            for side, worker in SIDES.items():
                other = "b" if side == "a" else "a"
                names = (masters.socket(side), masters.socket(other))
                stack.start_worker(worker, 2, f"side={side}", extra=("--chunk-size", str(CHUNK_SIZE)), masters=names)
            for side, worker in SIDES.items():
                assert wait_until(lambda w=worker: _connected_to(stack, w), START_TIMEOUT, f"{worker} up") == side
            yield stack, masters
        finally:
            stack.stop()
            masters.stop()
        assert "Traceback" not in stack.outputs() + masters.services["b"].output, stack.outputs()


def _follow(stack: Stack, runs: list[str], meanwhile: Callable[[], None]) -> dict[str, tuple[bytes, str]]:
    """Follow the live streams of `runs` (of project demo) to their ends; `meanwhile` once each is live."""
    loop = asyncio.new_event_loop()
    try:
        following = {run_id: asyncio.Event() for run_id in runs}
        streams = {r: loop.create_task(_stream(stack.api_url, "demo", r, following[r])) for r in runs}
        for event in following.values():
            loop.run_until_complete(asyncio.wait_for(event.wait(), 60))
        meanwhile()
        return {run_id: loop.run_until_complete(asyncio.wait_for(task, 120)) for run_id, task in streams.items()}
    finally:
        loop.close()


@pytest.mark.slow
@pytest.mark.timeout(300)  # a loaded machine: well under a minute on a quiet one
def test_two_masters_with_their_own_log_directories_serve_every_log_complete(two: tuple[Stack, Masters]) -> None:
    """A run on each master's worker, then one whose master is SIGKILLed half-way: every log complete.

    The api reads each log from PostgreSQL byte for byte, its live stream follows it to the end,
    and the run's archive holds it whole; no process wrote a log file in its own directory.
    """
    stack, masters = two
    directory = stack.directory
    gates = {side: directory / f"gate-{side}" for side in SIDES}
    runs = {side: stack.trigger("demo", f"big-{side}", gate=str(gates[side]))["id"] for side in SIDES}
    for side, run_id in runs.items():
        wait_until(lambda r=run_id: stack.log("demo", r) == _expected(r, 1), 60, f"the first half of the run on {side}")
        assert stack.run("demo", run_id)["worker"] == SIDES[side]
    ends = _follow(stack, list(runs.values()), lambda: [gate.touch() for gate in gates.values()])
    for run_id in runs.values():
        assert ends[run_id] == (_expected(run_id), "succeeded"), stack.outputs()
        assert stack.wait_run("demo", run_id, timeout=60)["status"] == "succeeded"
        assert stack.log("demo", run_id) == _expected(run_id)
        assert _archived_log(stack, run_id) == _expected(run_id)

    # Master a dies while the second half is being written, the api's stream following: w1 moves
    # to b, which takes the log up from what the database holds, and the same stream goes on.
    gate = directory / "gate-killed"
    killed = stack.trigger("demo", "big-a", gate=str(gate))["id"]
    first = _expected(killed, 1)
    wait_until(lambda: stack.log("demo", killed) == first, 60, "the first half through master a")

    def kill_a() -> None:
        gate.touch()
        wait_until(lambda: len(stack.log("demo", killed, len(first))) > 0, 60, "the second half begun")
        masters.services["a"].kill()
        stored = len(first) + len(stack.log("demo", killed, len(first)))  # what a wrote: the job prints on
        assert stored < len(_expected(killed)), "the log ended before master a was killed"
        assert wait_until(lambda: _connected_to(stack, "w1") == "b", 30, "w1 connected to master b")
        logger.info("master a killed with %d of %d bytes stored", stored, len(_expected(killed)))

    ends = _follow(stack, [killed], kill_a)
    assert ends[killed] == (_expected(killed), "succeeded"), stack.outputs()
    assert stack.wait_run("demo", killed, timeout=60)["status"] == "succeeded"
    assert stack.log("demo", killed) == _expected(killed)
    assert _archived_log(stack, killed) == _expected(killed)
    for own in ("master-a-logs", "master-b-logs", "api-logs"):  # no process wrote a log file
        assert not list((directory / own).rglob("*.log")), own
