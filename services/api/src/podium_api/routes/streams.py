"""Live streams as server-sent events: a run's log as it grows, and run and worker changes.

Both follow the masters' event feed (`feed.MasterFeed`, every master's events merged): a `log`
event says how far a run's log has grown, so the new bytes are read at once; a `run` event in a
final status ends that run's log stream. Storage is read when a stream starts and after each
`RESYNC` (a master's feed (re)connected or dropped, or the stream fell behind); while a feed is
down, streams re-check storage every few seconds so they still end. A client that disconnects
cancels its stream; storage calls are shielded so that cancellation never interrupts a
database checkout.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from podium_api.access import Access
from podium_api.deps import FeedDep, LogsDep, StorageDep, VisibilityDep
from podium_api.feed import RESYNC, TIMEOUT, Event, Marker, MasterFeed, shielded
from podium_api.lookups import run_or_404
from podium_api.permissions import operation
from podium_model import Run, RunFilter, RunStatus, Worker
from podium_model.control import LogGrew, RunChanged, WorkerChanged
from podium_model.runs import masked_run
from podium_storage.interface import Storage
from podium_storage.logs import LogStore

logger = logging.getLogger(__name__)

router = APIRouter(tags=["runs"])

CHUNK = 256 * 1024
KEEPALIVE_S = 15.0


def sse(event: str, data: dict[str, Any], event_id: int | None = None) -> bytes:
    """One server-sent event with a JSON payload."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _wait(feed: MasterFeed) -> float:
    fallback = feed.wait_timeout
    return KEEPALIVE_S if fallback is None else min(fallback, KEEPALIVE_S)


async def log_events(
    feed: MasterFeed, storage: Storage, logs: LogStore, project: str, run_id: str, offset: int
) -> AsyncIterator[bytes]:
    """`log` events (`offset`: byte offset of the chunk, `data`: its text) then one `end` event.

    Text is decoded incrementally, so a character split across chunks arrives whole; bytes
    that are not UTF-8 become U+FFFD (the exact bytes stay readable from `/log`).
    The `id` of each event is the byte offset to resume from (`?offset=`).
    """
    subscription = feed.subscribe(lambda event: _run_id_of(event) == run_id)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    position = offset
    final: str | None = None
    check = True
    try:
        while True:
            data = await logs.read(project, run_id, position, CHUNK)
            if data:
                yield sse("log", {"offset": position, "data": decoder.decode(data)}, position + len(data))
                position += len(data)
                continue
            if check:
                check = False
                run = await shielded(storage.get_run(run_id))
                if run is None or run.status.is_final:
                    final = run.status.value if run is not None else "unknown"
                    continue  # read once more: bytes may have landed before the status changed
            if final is not None:
                yield sse("end", {"status": final, "offset": position}, position)
                return
            item = await subscription.next(_wait(feed))
            if item is RESYNC:
                check = True
            elif item is TIMEOUT:
                check = not feed.connected
                yield b": keepalive\n\n"
            elif isinstance(item, RunChanged) and item.run.status.is_final:
                final = item.run.status.value
    finally:
        subscription.close()


def _run_id_of(event: Event) -> str | None:
    if isinstance(event, RunChanged):
        return event.run.id
    return event.run_id if isinstance(event, LogGrew) else None


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
    storage: StorageDep,
    feed: FeedDep,
    logs: LogsDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    last_event_id: Annotated[str | None, Header(description="Resume after this offset (EventSource)")] = None,
) -> StreamingResponse:
    """The log from byte `offset` (or `Last-Event-ID`) as server-sent events, live until the run ends."""
    found = await run_or_404(storage, project, run)
    if last_event_id is not None and last_event_id.strip().isdecimal() and offset == 0:
        offset = int(last_event_id.strip())
    return StreamingResponse(
        log_events(feed, storage, logs, found.project, found.id, offset),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


EVENT_RUNS = 100


class _Changes:
    """What an events stream has sent: entity id → its version, to send each change once."""

    def __init__(self) -> None:
        self.runs: dict[str, tuple[datetime, RunStatus]] = {}
        self.workers: dict[str, tuple[datetime, bool, bool]] = {}

    def run(self, run: Run) -> bytes | None:
        version = (run.updated_at, run.status)
        sent = self.runs.get(run.id)
        # Equal: sent already. Older: several masters' feeds interleave (a worker that moved from
        # one to another), and a change of the one it left may arrive after the other's newer one.
        if sent is not None and (sent == version or run.updated_at < sent[0]):
            return None
        self.runs[run.id] = version
        return _sse_json("run", masked_run(run).model_dump_json())

    def worker(self, worker: Worker) -> bytes | None:
        version = (worker.updated_at, worker.is_active, worker.is_enabled)
        if self.workers.get(worker.id) == version:
            return None
        self.workers[worker.id] = version
        return _sse_json("worker", worker.model_dump_json())


def _sse_json(event: str, data: str) -> bytes:
    """One server-sent event whose payload is JSON text already."""
    return f"event: {event}\ndata: {data}\n\n".encode()


async def _newest_runs(storage: Storage, access: Access) -> list[Run]:
    """The newest `EVENT_RUNS` runs the caller may see: one page, or one page per visible project."""
    visible = access.visible_projects()
    if visible is None:
        return (await storage.list_runs(RunFilter(), limit=EVENT_RUNS)).items
    pages = [(await storage.list_runs(RunFilter(project=project), limit=EVENT_RUNS)).items for project in visible]
    return sorted((run for page in pages for run in page), key=lambda run: run.id, reverse=True)[:EVENT_RUNS]


async def _snapshot(storage: Storage, changes: _Changes, access: Access) -> list[bytes]:
    """Events for what changed since `changes` was last updated, read from storage (what `access` sees)."""
    newest = await _newest_runs(storage, access)
    active = [run for run in await storage.list_active_runs() if access.sees(run.project)]
    runs = {run.id: run for run in [*newest, *active]}
    for run_id in [r for r in changes.runs if r not in runs]:
        current = await storage.get_run(run_id)  # fell off the page: report its change once
        if current is not None:
            runs[run_id] = current
    out = [changes.run(run) for run in sorted(runs.values(), key=lambda r: r.id)]
    out += [changes.worker(worker) for worker in await storage.list_workers()]
    # Forget finished runs that fell off the page: they cannot change any more.
    keep = {run.id for run in newest} | {run.id for run in runs.values() if not run.status.is_final}
    changes.runs = {k: v for k, v in changes.runs.items() if k in keep}
    return [event for event in out if event is not None]


def _pushed(changes: _Changes, event: Event) -> bytes | None:
    """The SSE event for a `run` or `worker` event of the feed (None: nothing new)."""
    if isinstance(event, RunChanged):
        return changes.run(event.run)
    return changes.worker(event.worker) if isinstance(event, WorkerChanged) else None


def _accepts(access: Access) -> Callable[[Event], bool]:
    """The feed filter of a stream: workers, and the runs of the projects `access` sees."""
    everything = access.visible_projects() is None

    def accepts(event: Event) -> bool:
        if isinstance(event, WorkerChanged):
            return True
        if not isinstance(event, RunChanged):
            return False
        return everything or access.sees(event.run.project)

    return accepts


async def change_events(feed: MasterFeed, storage: Storage, access: Access) -> AsyncIterator[bytes]:
    """`run` and `worker` events, each carrying the entity whenever it changed.

    The first events describe the current state (the newest runs, the running ones and every
    worker); later ones are pushed by the master's feed, re-read from storage after a `RESYNC`.
    Runs of projects the caller may not read never appear. The caller's rights are those of
    the stream's start: a grant revoked meanwhile takes effect when the client reconnects.
    """
    subscription = feed.subscribe(_accepts(access))
    changes = _Changes()
    try:
        check = True
        while True:
            if check:
                check = False
                for event in await shielded(_snapshot(storage, changes, access)):
                    yield event
            item = await subscription.next(_wait(feed))
            if item is RESYNC:
                check = True
            elif item is TIMEOUT:
                check = not feed.connected
                yield b": keepalive\n\n"
            elif not isinstance(item, Marker):
                # What else is queued goes out in the same write: a burst costs one, not one per event
                # (one turn of the loop first, no timer, lets the feed's current frame arrive whole).
                await asyncio.sleep(0)
                pushed = [_pushed(changes, event) for event in (item, *subscription.pending())]
                if out := b"".join(event for event in pushed if event is not None):
                    yield out
    finally:
        subscription.close()


@router.get(
    "/events",
    tags=["events"],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "`run` and `worker` events"}},
    **operation("streamEvents", summary="Follow run and worker changes"),
)
async def stream_events(storage: StorageDep, feed: FeedDep, access: VisibilityDep) -> StreamingResponse:
    """Run and worker changes as server-sent events, for live pages (the runs of the projects I may read)."""
    return StreamingResponse(
        change_events(feed, storage, access),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
