"""The live streams (server-sent events) of the real api process, pushed by the master's feed.

The recording master serves the event feed; tests write storage and the log store as the master
would and publish the matching events. While the feed is up the api never re-reads storage on
its own, so a stream that follows the changes proves the push path.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from podium_model import RunSource, RunStatus
from podium_storage import open_storage
from podium_storage.logs import DirectoryLogStore
from tests.api.conftest import ApiProcess
from tests.api.recording_master import RecordingMaster


def _run_event(run: Any) -> dict[str, Any]:
    return {"kind": "run", "run": run.model_dump(mode="json")}


async def _login(client: httpx.AsyncClient) -> None:
    token = (await client.post("/me/login", json={"user": "admin", "password": "pw-admin-1"})).json()["token"]
    client.headers["Authorization"] = f"Bearer {token}"


async def _follow(
    client: httpx.AsyncClient,
    url: str,
    received: bytearray,
    events: list[dict[str, Any]],
    progress: asyncio.Condition | None = None,
) -> None:
    async with client.stream("GET", url) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        event = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = json.loads(line.removeprefix("data: "))
                events.append({"event": event, **data})
                if event == "log":
                    assert data["offset"] == len(received)
                    received.extend(data["data"].encode())
                    if progress is not None:
                        async with progress:
                            progress.notify_all()
                elif event == "end":
                    return


async def _until(progress: asyncio.Condition, predicate: Any, timeout: float = 20.0) -> None:
    """Wait until the followers have received what `predicate` checks (woken by each chunk)."""
    async with asyncio.timeout(timeout), progress:
        await progress.wait_for(predicate)


async def test_two_clients_follow_a_growing_log_to_the_end(api_process: ApiProcess, master: RecordingMaster) -> None:
    """Two clients at once receive every byte in order as it is written, then the final status."""
    master.wait_feeds()
    logs = DirectoryLogStore(api_process.log_dir)
    async with open_storage(api_process.database_url) as storage:
        run = await storage.create_run("demo", "hello", {}, RunSource())
        await storage.transition_run(run.id, [RunStatus.pending], RunStatus.running)
        await logs.append("demo", run.id, 0, b"before streaming\n")
        url = f"/projects/demo/runs/{run.id}/log/stream"
        async with httpx.AsyncClient(base_url=api_process.url, timeout=30) as client:
            await _login(client)
            streams = [(bytearray(), []) for _ in range(2)]  # type: ignore[var-annotated]
            progress = asyncio.Condition()
            tasks = [asyncio.create_task(_follow(client, url, got, events, progress)) for got, events in streams]
            written = b"before streaming\n"
            for number in range(20):
                line = f"line {number} é €\n".encode()
                await logs.append("demo", run.id, len(written), line)
                written += line
                master.publish({"kind": "log", "project": "demo", "run_id": run.id, "size": len(written)})
                expected = bytes(written)
                await _until(progress, lambda: all(bytes(got) == expected for got, _ in streams))  # noqa: B023
            ended = await storage.transition_run(run.id, [RunStatus.running], RunStatus.succeeded)
            master.publish(_run_event(ended))
            async with asyncio.timeout(20):
                await asyncio.gather(*tasks)
    for got, events in streams:
        assert bytes(got) == written
        assert events[-1] == {"event": "end", "status": "succeeded", "offset": len(written)}


async def test_stream_of_a_finished_run_from_an_offset(api_process: ApiProcess) -> None:
    """A finished run's stream sends the bytes after the offset and ends at once."""
    logs = DirectoryLogStore(api_process.log_dir)
    async with open_storage(api_process.database_url) as storage:
        run = await storage.create_run("demo", "hello", {}, RunSource())
        await logs.append("demo", run.id, 0, b"0123456789")
        await storage.transition_run(run.id, [RunStatus.pending], RunStatus.cancelled)
        async with httpx.AsyncClient(base_url=api_process.url, timeout=30) as client:
            await _login(client)
            got, events = bytearray(b"0123"), []  # type: ignore[var-annotated]
            await _follow(client, f"/projects/demo/runs/{run.id}/log/stream?offset=4", got, events)
    assert bytes(got) == b"0123456789"
    assert events[-1]["status"] == "cancelled"


async def test_events_follow_run_changes(api_process: ApiProcess, master: RecordingMaster) -> None:
    """The events stream sends a run when it appears and again when its status changes."""
    master.wait_feeds()
    async with open_storage(api_process.database_url) as storage:
        async with httpx.AsyncClient(base_url=api_process.url, timeout=30) as client:
            await _login(client)
            statuses: list[tuple[str, str]] = []
            arrived = asyncio.Condition()

            async def follow() -> None:
                async with client.stream("GET", "/events") as response:
                    assert response.status_code == 200
                    event = ""
                    async for line in response.aiter_lines():
                        if line.startswith("event: "):
                            event = line.removeprefix("event: ")
                        elif line.startswith("data: ") and event == "run":
                            data = json.loads(line.removeprefix("data: "))
                            async with arrived:
                                statuses.append((data["id"], data["status"]))
                                arrived.notify_all()

            task = asyncio.create_task(follow())
            try:
                run = await storage.create_run("demo", "hello", {}, RunSource())
                master.publish(_run_event(run))
                async with asyncio.timeout(20), arrived:
                    await arrived.wait_for(lambda: (run.id, "pending") in statuses)
                master.publish(_run_event(await storage.transition_run(run.id, [RunStatus.pending], RunStatus.running)))
                async with asyncio.timeout(20), arrived:
                    await arrived.wait_for(lambda: (run.id, "running") in statuses)
            finally:
                task.cancel()


async def test_streams_survive_feed_loss_and_end_without_the_master(
    api_process: ApiProcess, master: RecordingMaster
) -> None:
    """After the feed drops the api reconnects and re-reads; with the master gone, a stream still ends."""
    master.wait_feeds()
    logs = DirectoryLogStore(api_process.log_dir)
    async with open_storage(api_process.database_url) as storage:
        run = await storage.create_run("demo", "hello", {}, RunSource())
        await storage.transition_run(run.id, [RunStatus.pending], RunStatus.running)
        async with httpx.AsyncClient(base_url=api_process.url, timeout=30) as client:
            await _login(client)
            got, events, progress = bytearray(), [], asyncio.Condition()  # type: ignore[var-annotated]
            task = asyncio.create_task(
                _follow(client, f"/projects/demo/runs/{run.id}/log/stream", got, events, progress)
            )
            await logs.append("demo", run.id, 0, b"first\n")
            master.publish({"kind": "log", "project": "demo", "run_id": run.id, "size": 6})
            await _until(progress, lambda: bytes(got) == b"first\n")
            await logs.append("demo", run.id, 6, b"missed while reconnecting\n")  # no event: the resync finds it
            master.drop_feeds()
            await _until(progress, lambda: bytes(got).endswith(b"reconnecting\n"))
            await asyncio.to_thread(master.wait_feeds, 2)
            master.stop()
            await storage.transition_run(run.id, [RunStatus.running], RunStatus.failed)
            async with asyncio.timeout(20):
                await task
    assert events[-1] == {"event": "end", "status": "failed", "offset": len(got)}
