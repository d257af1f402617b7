"""Live streams as server-sent events: a run's log as it grows, and run and worker changes.

The api does not hear from the master directly: it waits on file-system notifications of the
shared log store (`watchfiles`), with a deadline after which it re-reads the run's status, so
a stream ends within about a second of the run ending even when the log is quiet.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from watchfiles import awatch

from podium_api.deps import LogsDep, StorageDep
from podium_api.lookups import run_or_404
from podium_api.permissions import operation
from podium_model import RunFilter
from podium_storage.interface import Storage
from podium_storage.logs import LogStore

logger = logging.getLogger(__name__)

router = APIRouter(tags=["runs"])

CHUNK = 256 * 1024
STATUS_CHECK_MS = 1000
KEEPALIVE_TICKS = 15


def sse(event: str, data: dict[str, Any], event_id: int | None = None) -> bytes:
    """One server-sent event with a JSON payload."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def log_events(
    request: Request, storage: Storage, logs: LogStore, project: str, run_id: str, offset: int
) -> AsyncIterator[bytes]:
    """`log` events (`offset`: byte offset of the chunk, `data`: its text) then one `end` event.

    Text is decoded incrementally, so a character split across chunks arrives whole; bytes
    that are not UTF-8 become U+FFFD (the exact bytes stay readable from `/log`).
    The `id` of each event is the byte offset to resume from (`?offset=`).
    """
    directory = logs.path(project, run_id).parent
    directory.mkdir(parents=True, exist_ok=True)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    stop = asyncio.Event()
    watcher = awatch(
        directory,
        watch_filter=None,
        debounce=100,
        step=5,
        stop_event=stop,
        rust_timeout=STATUS_CHECK_MS,
        yield_on_timeout=True,
        recursive=False,
    )
    position = offset
    quiet_ticks = 0
    try:
        while True:
            data = await asyncio.to_thread(logs.read, project, run_id, position, CHUNK)
            if data:
                yield sse("log", {"offset": position, "data": decoder.decode(data)}, position + len(data))
                position += len(data)
                quiet_ticks = 0
                continue
            run = await storage.get_run(run_id)
            if run is None or run.status.is_final:
                # Bytes may have landed between the read and the status check.
                if await asyncio.to_thread(logs.size, project, run_id) > position:
                    continue
                status = run.status.value if run is not None else "unknown"
                yield sse("end", {"status": status, "offset": position}, position)
                return
            if await request.is_disconnected():
                return
            changes = await anext(watcher)
            if not changes:
                quiet_ticks += 1
                if quiet_ticks % KEEPALIVE_TICKS == 0:
                    yield b": keepalive\n\n"
    finally:
        stop.set()
        await watcher.aclose()


@router.get(
    "/projects/{project}/runs/{run}/log/stream",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "`log` events, then one `end` event"},
        404: {"description": "No such project or run"},
    },
    **operation("streamRunLog", summary="Follow a run's log live"),
)
async def stream_run_log(
    project: str,
    run: str,
    request: Request,
    storage: StorageDep,
    logs: LogsDep,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> StreamingResponse:
    """The log from byte `offset` as server-sent events, live until the run ends."""
    found = await run_or_404(storage, project, run)
    return StreamingResponse(
        log_events(request, storage, logs, found.project, found.id, offset),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


EVENT_RUNS = 100


async def change_events(request: Request, storage: Storage, logs: LogStore) -> AsyncIterator[bytes]:
    """`run` and `worker` events, each carrying the entity whenever it changed.

    The first events describe the current state (the newest runs, the running ones and every
    worker); later ones follow changes, checked on log activity and at least every second.
    """
    logs.root.mkdir(parents=True, exist_ok=True)
    stop = asyncio.Event()
    watcher = awatch(
        logs.root, watch_filter=None, debounce=500, step=50, stop_event=stop,
        rust_timeout=STATUS_CHECK_MS, yield_on_timeout=True,
    )  # fmt: skip
    seen_runs: dict[str, Any] = {}
    seen_workers: dict[str, Any] = {}
    quiet_ticks = 0
    try:
        while True:
            sent = False
            page = await storage.list_runs(RunFilter(), limit=EVENT_RUNS)
            runs = {run.id: run for run in [*page.items, *await storage.list_active_runs()]}
            for run_id in [r for r in seen_runs if r not in runs]:
                current = await storage.get_run(run_id)  # fell off the page: report its end once
                if current is not None:
                    runs[run_id] = current
            for run in sorted(runs.values(), key=lambda r: r.id):
                if seen_runs.get(run.id) != run.updated_at:
                    yield sse("run", run.model_dump(mode="json"))
                    sent = True
            seen_runs = {run.id: run.updated_at for run in runs.values() if not run.status.is_final}
            seen_runs.update({run.id: run.updated_at for run in page.items})
            for worker in await storage.list_workers():
                if seen_workers.get(worker.id) != worker.updated_at:
                    yield sse("worker", worker.model_dump(mode="json"))
                    sent = True
                seen_workers[worker.id] = worker.updated_at
            if await request.is_disconnected():
                return
            quiet_ticks = 0 if sent else quiet_ticks + 1
            if quiet_ticks and quiet_ticks % KEEPALIVE_TICKS == 0:
                yield b": keepalive\n\n"
            await anext(watcher)
    finally:
        stop.set()
        await watcher.aclose()


@router.get(
    "/events",
    tags=["events"],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "`run` and `worker` events"}},
    **operation("streamEvents", summary="Follow run and worker changes"),
)
async def stream_events(request: Request, storage: StorageDep, logs: LogsDep) -> StreamingResponse:
    """Run and worker changes as server-sent events, for live pages."""
    return StreamingResponse(
        change_events(request, storage, logs),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
