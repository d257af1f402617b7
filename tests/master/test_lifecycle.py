"""A real master with short timeouts: expiry of pending runs, silent workers, the events websocket."""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from podium_model import RunSource, RunStatus, RunUpdate
from podium_model.control import ControlAnswer, ControlResult
from podium_model.limits import RESULTS_BYTES
from podium_storage import DirectoryLogStore, Storage, open_storage
from tests.conftest import DATABASES
from tests.databases import fresh_database
from tests.master.conftest import start_master
from tests.master.rogue import answer_setup, open_worker
from tests.stack import Stack, admin

CONFIG = """
projects:
  - id: demo
    jobs:
      - id: nowhere
        properties: {os: plan9}
        definition: {type: job, commands: [["true"]]}
      - id: talkative
        properties: {os: beos}
        definition: {type: job, commands: [["true"]]}
      - id: keeper
        properties: {os: haiku}
        definition: {type: job, commands: [["true"]], artifacts: ["out/"]}
"""
EXPIRY = 2.0


@pytest.fixture(scope="module", params=DATABASES)
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A master with a 2 s pending expiry and a 1.5 s heartbeat timeout, shared by the module."""
    directory = tmp_path_factory.mktemp("lifecycle")
    config = directory / "podium.yaml"
    config.write_text(CONFIG)
    with fresh_database(request.param, directory) as url:
        stack = Stack(directory, url)
        stack.prepare()
        admin(url, "apply", str(config))
        start_master(stack, "--pending-expiry", str(EXPIRY), "--heartbeat-timeout", "1.5")
        try:
            yield stack
        finally:
            stack.stop()


@pytest.fixture
async def storage(stack: Stack) -> AsyncIterator[Storage]:
    """The test's own connection to the stack's database."""
    async with open_storage(stack.database_url) as storage:
        yield storage


def _events_url(stack: Stack) -> str:
    return f"ws://127.0.0.1:{stack.master_port}/control/events"


_unread: weakref.WeakKeyDictionary[ClientConnection, list[dict[str, Any]]] = weakref.WeakKeyDictionary()
"""Events of a frame not looked at yet, by connection (a frame carries a JSON array of events)."""


async def _next(ws: ClientConnection, predicate: Any, timeout: float = 30.0) -> dict[str, Any]:
    """The first event matching `predicate` (others are skipped)."""
    unread = _unread.setdefault(ws, [])
    async with asyncio.timeout(timeout):
        while True:
            if not unread:
                batch = json.loads(await ws.recv())
                assert isinstance(batch, list) and batch, f"a frame is a non-empty array of events: {batch!r}"
                unread.extend(batch)
            event: dict[str, Any] = unread.pop(0)
            if predicate(event):
                return event


async def _dispatch(stack: Stack) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{stack.master_url}/control/dispatch", headers={"X-Podium-Control-Secret": stack.secret}
        )
    assert response.status_code == 200, response.text


async def test_events_socket_refuses_a_wrong_secret(stack: Stack) -> None:
    """Without the control secret the events websocket is refused before it is accepted."""
    for headers in ({}, {"X-Podium-Control-Secret": "wrong"}):
        with pytest.raises(InvalidStatus) as caught:
            async with connect(_events_url(stack), additional_headers=headers):
                pass
        assert caught.value.response.status_code == 403


async def test_control_calls_answer_models_and_refuse_a_wrong_secret(stack: Stack, storage: Storage) -> None:
    """Every control call answers a ControlAnswer; without the secret, 401 as a problem."""
    async with httpx.AsyncClient(base_url=stack.master_url) as client:
        for headers in ({}, {"X-Podium-Control-Secret": "wrong"}):
            refused = await client.post("/control/dispatch", headers=headers)
            assert refused.status_code == 401
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.json()["type"].endswith("/control-unauthorized")
        secret = {"X-Podium-Control-Secret": stack.secret}
        dispatched = await client.post("/control/dispatch", headers=secret)
        assert ControlAnswer.model_validate(dispatched.json()).result == ControlResult.dispatching
        unknown = await client.post("/control/runs/nothing/abort", headers=secret)
        assert ControlAnswer.model_validate(unknown.json()) == ControlAnswer(result=ControlResult.unknown)
        run = await storage.create_run("demo", "nowhere", {}, RunSource(type="api"))
        await storage.transition_run(run.id, [RunStatus.pending], RunStatus.running, RunUpdate(worker="away"))
        deferred = ControlAnswer.model_validate(
            (await client.post(f"/control/runs/{run.id}/abort", headers=secret)).json()
        )
        assert (deferred.result, deferred.status) == (ControlResult.deferred, RunStatus.running)
        unchanged = ControlAnswer.model_validate(
            (await client.post(f"/control/runs/{run.id}/cancel", headers=secret)).json()
        )
        assert (unchanged.result, unchanged.status, unchanged.run) == (ControlResult.unchanged, RunStatus.running, None)


async def test_pending_run_expires_cancelled_with_reason_and_is_published(stack: Stack, storage: Storage) -> None:
    """A run no worker can take ends cancelled after the expiry, with the reason, and the event says so."""
    headers = {"X-Podium-Control-Secret": stack.secret}
    async with connect(_events_url(stack), additional_headers=headers) as events:
        run = await storage.create_run("demo", "nowhere", {}, RunSource(type="api"))
        await _dispatch(stack)
        waiting = await _next(events, lambda e: e["kind"] == "run" and e["run"]["id"] == run.id)
        assert waiting["run"]["status"] == "pending"
        assert waiting["run"]["waiting_reason"] == "no worker connected"
        ended = await _next(
            events, lambda e: e["kind"] == "run" and e["run"]["id"] == run.id and e["run"]["status"] != "pending"
        )
    assert ended["run"]["status"] == "cancelled"
    assert ended["run"]["reason"].startswith("expired: no worker took it within 2 s")
    stored = await storage.get_run(run.id)
    assert stored is not None and stored.status == RunStatus.cancelled and stored.completed_at is not None


async def test_silent_worker_is_marked_inactive_and_published(stack: Stack, storage: Storage) -> None:
    """A worker that stops sending anything is dropped after the heartbeat timeout and shown inactive."""
    headers = {"X-Podium-Control-Secret": stack.secret}
    async with connect(_events_url(stack), additional_headers=headers) as events:
        async with open_worker(stack, "silent") as ws:
            await answer_setup(ws)
            active = await _next(events, lambda e: e["kind"] == "worker" and e["worker"]["id"] == "silent")
            assert active["worker"]["is_active"] is True
            gone = await _next(
                events,
                lambda e: e["kind"] == "worker" and e["worker"]["id"] == "silent" and not e["worker"]["is_active"],
            )
            assert gone["worker"]["is_active"] is False
    worker = await storage.get_worker("silent")
    assert worker is not None and not worker.is_active


async def test_requeued_run_drops_the_log_of_its_lost_attempt(stack: Stack, storage: Storage) -> None:
    """A run its worker no longer holds goes back to pending without the log bytes of that attempt."""
    run = await storage.create_run("demo", "nowhere", {}, RunSource(type="api"))
    await storage.transition_run(run.id, [RunStatus.pending], RunStatus.running, RunUpdate(worker="forgetful"))
    logs = DirectoryLogStore(stack.log_dir)
    await logs.append("demo", run.id, 0, b"bytes of a lost attempt\n")
    headers = {"X-Podium-Control-Secret": stack.secret}
    async with connect(_events_url(stack), additional_headers=headers) as events:
        async with open_worker(stack, "forgetful") as ws:
            await answer_setup(ws)  # it holds no run
            requeued = await _next(events, lambda e: e["kind"] == "run" and e["run"]["id"] == run.id)
            emptied = await _next(events, lambda e: e["kind"] == "log" and e["run_id"] == run.id)
    assert requeued["run"]["status"] == "pending" and requeued["run"]["worker"] is None
    assert requeued["run"]["waiting_reason"].startswith("requeued: worker forgetful lost it (bounce 1 of 5;")
    assert emptied["size"] == 0
    assert await logs.size("demo", run.id) == 0


async def test_results_over_the_limit_end_the_run_and_keep_the_connection(stack: Stack, storage: Storage) -> None:
    """A final status whose results are over `RESULTS_BYTES`: the run ends exception saying so, the worker stays
    (a status sent again before its `clean` was answered is ignored, one sent after it is cleaned again)."""
    run = await storage.create_run("demo", "talkative", {}, RunSource(type="api"))
    async with open_worker(stack, "verbose") as ws:
        await answer_setup(ws, {"os": "beos"})  # only this test's job: no other test's run comes here
        await _dispatch(stack)
        while (execute := json.loads(await asyncio.wait_for(ws.recv(), 30)))["type"] != "execute":
            pass  # a heartbeat-free rogue gets nothing else, but be tolerant
        assert execute["run"]["run_id"] == run.id
        await ws.send(json.dumps({"type": "response", "v": 1, "id": execute["id"], "result": {"started": True}}))
        results = {"big": "x" * (RESULTS_BYTES + 1)}
        state = {"run_id": run.id, "status": "succeeded", "log_size": 0, "results": results}
        await ws.send(json.dumps({"type": "status", "v": 1, "state": state}))
        clean = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert clean["type"] == "clean" and clean["run_id"] == run.id, clean
        # Sent again before the worker saw the acknowledgement: ignored, not a protocol error.
        await ws.send(json.dumps({"type": "status", "v": 1, "state": state}))
        await ws.send(json.dumps({"type": "response", "v": 1, "id": clean["id"]}))
        # Sent again after the clean was answered (the worker's resend timer fired meanwhile):
        # acknowledged with another clean, the connection stays.
        await ws.send(json.dumps({"type": "status", "v": 1, "state": state}))
        again = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert again["type"] == "clean" and again["run_id"] == run.id, again
        await ws.send(json.dumps({"type": "response", "v": 1, "id": again["id"]}))
        await ws.ping()
        assert ws.close_code is None
    stored = await storage.get_run(run.id)
    assert stored is not None and stored.status == RunStatus.exception, stored
    assert stored.results == {}
    assert stored.reason is not None and f"over the limit of {RESULTS_BYTES} bytes" in stored.reason


async def test_an_artifact_that_does_not_match_its_checksum_is_asked_for_again(stack: Stack, storage: Storage) -> None:
    """The master asks for a final status's artifacts with `upload`, drops a copy whose SHA-256 is not the
    announced one and asks again from byte 0, refuses a frame of an artifact it did not ask for, and records
    the run (manifest first) once the copy matches."""
    import hashlib

    from podium_model.messages import encode_log_chunk
    from podium_storage.artifacts import ArtifactStore

    run = await storage.create_run("demo", "keeper", {}, RunSource(type="api"))
    kept = {"path": "out/a.txt", "size": 3, "sha256": hashlib.sha256(b"abc").hexdigest()}
    state = {"run_id": run.id, "status": "succeeded", "log_size": 0, "artifacts": [kept]}

    async def next_message(ws: ClientConnection) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 30))
        return message

    async with open_worker(stack, "keeper") as ws:
        await answer_setup(ws, {"os": "haiku"})
        await _dispatch(stack)
        while (execute := await next_message(ws))["type"] != "execute":
            pass
        await ws.send(json.dumps({"type": "response", "v": 1, "id": execute["id"], "result": {"started": True}}))
        await ws.send(json.dumps({"type": "status", "v": 1, "state": state}))
        upload = await next_message(ws)
        assert upload["type"] == "upload" and upload["artifacts"] == {"out/a.txt": 0}, upload
        await ws.send(json.dumps({"type": "response", "v": 1, "id": upload["id"]}))
        await ws.send(encode_log_chunk(run.id, 0, b"xyz", artifact="out/a.txt"))  # same size, other bytes
        await ws.send(json.dumps({"type": "status", "v": 1, "state": state}))
        again = await next_message(ws)
        assert again["type"] == "upload" and again["artifacts"] == {"out/a.txt": 0}, again
        await ws.send(json.dumps({"type": "response", "v": 1, "id": again["id"]}))
        await ws.send(encode_log_chunk(run.id, 0, b"abc", artifact="out/a.txt"))
        await ws.send(json.dumps({"type": "status", "v": 1, "state": state}))
        clean = await next_message(ws)
        assert clean["type"] == "clean" and clean["run_id"] == run.id, clean
        await ws.send(json.dumps({"type": "response", "v": 1, "id": clean["id"]}))
    stored = await storage.get_run(run.id)
    assert stored is not None and stored.status == RunStatus.succeeded, stored
    manifest = ArtifactStore(DirectoryLogStore(stack.log_dir)).manifest("demo", run.id)
    assert [artifact.model_dump() for artifact in manifest] == [kept]

    other = await storage.create_run("demo", "keeper", {}, RunSource(type="api"))
    async with open_worker(stack, "keeper") as ws:
        await answer_setup(ws, {"os": "haiku"})
        await _dispatch(stack)
        while (execute := await next_message(ws))["type"] != "execute":
            pass
        await ws.send(json.dumps({"type": "response", "v": 1, "id": execute["id"], "result": {"started": True}}))
        await ws.send(encode_log_chunk(other.id, 0, b"abc", artifact="out/a.txt"))  # not asked for
        refused = await next_message(ws)
        assert refused["type"] == "error" and refused["error"]["code"] == "unknown-artifact", refused
