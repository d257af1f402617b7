"""One worker's websocket connection, seen from the master (docs/concepts.md, Master ⇄ worker protocol).

A `WorkerSession` asks the worker to describe itself and list its runs, reconciles that with
the database, then keeps the runs the worker holds in sync: log chunks are appended only at
the offset the master holds (a gap or an overlap asks for a resync, once per gap), and a
final status is accepted only once every log byte is stored. Any protocol violation gets an
`error` message and close code 4400; it never reaches the rest of the master.

The latest heartbeat is kept in memory as the worker's health (`health`, read by the metrics);
a worker whose heartbeat says it is draining is not `ready`, so no run is dispatched to it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from podium_master.lifecycle import RUNNING
from podium_master.poison import bounded_results, check_message_size
from podium_master.protocol import ProtocolViolation, first_error
from podium_master.reconcile import reconcile
from podium_master.retry import until_stored
from podium_master.services import SessionServices
from podium_model import RunStatus, RunStep, RunUpdate, utcnow
from podium_model.messages import (
    CLOSE_PROTOCOL_ERROR,
    PROTOCOL_VERSION,
    Abort,
    Clean,
    ErrorMessage,
    Execute,
    Heartbeat,
    ProtocolError,
    Response,
    Resync,
    RunRequest,
    StatusUpdate,
    Upload,
    WorkerRunState,
    decode_log_chunk,
    worker_message_adapter,
)
from podium_model.workers import Worker
from podium_storage.interface import StorageError, StorageUnavailable
from podium_storage.logs import LogOffsetMismatch, LogStoreFull

logger = logging.getLogger(__name__)

INLINE_APPEND = 65536
"""Log chunks up to this size are appended on the event loop; larger ones in a thread."""

STALLED_UPLOADS = 3
"""A worker that answers this many `upload` requests in a row without a byte of the artifacts
asked (its copy is gone) gets its run recorded without them, never held forever."""

STEPS_WRITE_DELAY = 1.0
"""Seconds the start of a running run (`started_at`, its image) and its steps, as its `running`
status and log chunks bring them, wait before being written together: a run over by then writes
them with its final status, so a short run costs no write of its own, and a long one at most one
write a second (docs/jobs.md, Steps)."""


@dataclass
class RunSync:
    """A run the worker holds: how many log bytes the master stores, and any resync asked."""

    project: str
    held: int
    resync_at: int | None = None
    finishing: bool = False
    paused: bool = False
    """The log store is full: this run's bytes wait on the worker (`logspace`)."""
    uploading: dict[str, int] = field(default_factory=dict)
    """Artifacts asked with `upload`: path → size; their frames are the only ones accepted."""
    verified: set[str] = field(default_factory=set)
    """Artifacts stored whole with the right SHA-256."""
    mismatches: int = 0
    stalled: int = 0
    """Uploads in a row that brought no byte: at `STALLED_UPLOADS`, the run ends without the missing ones."""
    steps: list[RunStep] = field(default_factory=list)
    """The run's steps as the worker reported them; stored with a delay (`STEPS_WRITE_DELAY`)."""
    started: dict[str, Any] = field(default_factory=dict)
    """The start's fields (`started_at`, image) the `running` status brought, not written yet."""
    steps_timer: asyncio.TimerHandle | None = None
    """The write of `started` and `steps` scheduled, if any."""


class WorkerSession:
    """The master's side of one worker connection."""

    def __init__(self, services: SessionServices, websocket: WebSocket, worker_id: str, owner: str) -> None:
        self.services = services
        self.websocket = websocket
        self.worker_id = worker_id
        self.owner = owner
        self.runs: dict[str, RunSync] = {}
        self._cleaning: dict[str, asyncio.Future[Response]] = {}
        """Runs whose final status is stored and whose `clean` is not answered yet."""
        self._ready = False
        self.worker: Worker | None = None
        self.containers: str | None = None
        """The container engine the worker said it runs jobs with an image in (`describe`)."""
        self.health: Heartbeat | None = None
        self.health_at: float | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Response]] = {}
        self._send_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_message = time.monotonic()
        self._closing = False

    @property
    def load(self) -> int:
        """How many runs this worker holds now."""
        return len(self.runs)

    @property
    def ready(self) -> bool:
        """True once reconciled and while the worker takes runs (it is not draining)."""
        return self._ready and not self.draining

    @ready.setter
    def ready(self, value: bool) -> None:
        self._ready = value

    @property
    def draining(self) -> bool:
        """True once the worker said it takes no new run."""
        return self.health is not None and self.health.draining

    def log_sync_lag(self) -> int:
        """Log bytes written on the worker (as of its last heartbeat) that the master does not hold yet."""
        if self.health is None:
            return 0
        sizes = self.health.log_sizes
        return sum(max(0, sizes.get(run_id, 0) - sync.held) for run_id, sync in self.runs.items())

    # Lifecycle -------------------------------------------------------------------------------

    async def serve(self) -> None:
        """Run the connection until it closes; never raises for the worker's faults."""
        receiver = asyncio.create_task(self._receive_loop(), name=f"receive {self.worker_id}")
        setup = self._spawn(self._setup(), f"setup {self.worker_id}")
        watchdog = self._spawn(self._watchdog(), f"watchdog {self.worker_id}")
        try:
            await receiver
        finally:
            setup.cancel()
            watchdog.cancel()
            for task in list(self._tasks):
                task.cancel()
            for sync in self.runs.values():
                if sync.steps_timer is not None:  # the next connection sends every step again
                    sync.steps_timer.cancel()
            for future in self._pending.values():
                future.cancel()
            self._pending.clear()

    async def close(self, code: int, reason: str = "") -> None:
        """Close the websocket (idempotent)."""
        if self._closing:
            return
        self._closing = True
        try:
            await self.websocket.close(code, reason)
        except (RuntimeError, OSError) as exc:  # already closed by the other side
            logger.debug("worker %s: close: %s", self.worker_id, exc)

    def _spawn(self, coroutine: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, ProtocolViolation):
            self._spawn(self._violation(exc), f"violation {self.worker_id}")
        elif exc is not None and not isinstance(exc, (WebSocketDisconnect, asyncio.CancelledError)):
            logger.error("worker %s: task %s failed", self.worker_id, task.get_name(), exc_info=exc)
            self._spawn(self.close(1011, "internal error"), f"close {self.worker_id}")

    async def _violation(self, violation: ProtocolViolation) -> None:
        logger.warning(
            "worker %s: protocol error %s: %s",
            self.worker_id,
            violation.code,
            violation.message,
            extra={"worker_id": self.worker_id},
        )
        self.services.metrics.protocol_error(violation.code)
        error = ErrorMessage(error=ProtocolError(code=violation.code, message=violation.message))
        try:
            await self._send_text(error.model_dump_json())
        except Exception as exc:  # the connection may be gone already
            logger.debug("worker %s: could not send the error: %s", self.worker_id, exc)
        await self.close(CLOSE_PROTOCOL_ERROR, violation.code)

    # Sending ---------------------------------------------------------------------------------

    async def _send_text(self, text: str) -> None:
        async with self._send_lock:
            await self.websocket.send_text(text)

    async def request(self, message: Any, timeout: float | None = None) -> Response:
        """Send a request (its `id` is assigned here) and wait for its response.

        Raises:
            ProtocolViolation: the worker did not answer in time.
        """
        future = self.send_request(message)
        try:
            return await asyncio.wait_for(future, timeout or self.services.settings.request_timeout)
        except TimeoutError:
            raise ProtocolViolation("timeout", f"no response to {message.type} in time") from None

    def send_request(self, message: Any, text: str | None = None) -> asyncio.Future[Response]:
        """Send a request in the background; the returned future gets its response.

        `text` is the message already serialized (its `id` set already).
        """
        if text is None:
            message.id = next(self._ids)
            text = message.model_dump_json()
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._pending[message.id] = future
        self._spawn(self._send_text(text), f"send {message.type} {self.worker_id}")
        return future

    def execute(self, request: RunRequest, held: int) -> asyncio.Future[Response]:
        """Hand a claimed run to the worker; the master holds `held` bytes of its log.

        Raises:
            MessageTooLarge: the `execute` would be larger than a worker accepts; nothing was sent.
        """
        message = Execute(id=next(self._ids), run=request)
        text = message.model_dump_json()
        check_message_size(text, "execute")
        self.hold(request.run_id, request.project, held)
        return self.send_request(message, text)

    def abort(self, run_id: str, reason: str) -> None:
        """Ask the worker to abort a run it holds."""
        self.send_request(Abort(id=0, run_id=run_id, grace=self.services.settings.abort_grace, reason=reason))

    def hold(self, run_id: str, project: str, held: int) -> RunSync:
        """Track a run this worker holds; the master stores `held` bytes of its log."""
        sync = RunSync(project=project, held=held)
        self.runs[run_id] = sync
        return sync

    def resync(self, run_id: str, sync: RunSync) -> None:
        """Ask the worker to stream a run again from the offset the master holds (once per gap)."""
        if sync.resync_at == sync.held:
            return  # asked already for this gap
        sync.resync_at = sync.held
        self.services.metrics.log_resyncs.inc()
        logger.info(
            "worker %s: resync run %s from %d",
            self.worker_id,
            run_id,
            sync.held,
            extra={"worker_id": self.worker_id, "run_id": run_id},
        )
        self.send_request(Resync(id=0, run_id=run_id, offset=sync.held))

    # Receiving -------------------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        settings = self.services.settings
        while True:
            try:
                message = await self.websocket.receive()
            except (WebSocketDisconnect, RuntimeError, OSError):
                return
            if message["type"] == "websocket.disconnect":
                return
            self._last_message = time.monotonic()
            try:
                data = message.get("bytes")
                if data is not None:
                    if len(data) > settings.max_chunk_size:
                        raise ProtocolViolation("too-big", f"log frame of {len(data)} bytes")
                    await self._on_log_chunk(data)
                    continue
                text = message.get("text")
                if text is None:
                    raise ProtocolViolation("malformed", "empty frame")
                if len(text) > settings.max_message_size:
                    raise ProtocolViolation("too-big", f"message of {len(text)} characters")
                await self._on_text(text)
            except ProtocolViolation as violation:
                await self._violation(violation)
                return
            except StorageError as exc:  # the database is away: keep the connection
                self.services.metrics.storage_errors.inc()
                logger.warning("worker %s: message not stored (database error): %s", self.worker_id, exc)

    async def _on_text(self, text: str) -> None:
        try:
            message = worker_message_adapter.validate_json(text)
        except ValidationError as exc:
            raise ProtocolViolation("malformed", first_error(exc)) from None
        if message.v != PROTOCOL_VERSION:
            raise ProtocolViolation("version", f"protocol version {message.v} is not {PROTOCOL_VERSION}")
        if isinstance(message, Response):
            future = self._pending.pop(message.id, None)
            if future is None:
                raise ProtocolViolation("unknown-request", f"response to unknown request {message.id}")
            if not future.done():
                future.set_result(message)
        elif isinstance(message, StatusUpdate):
            await self._on_status(bounded_results(message.state, len(text)))
        elif isinstance(message, Heartbeat):
            await self._on_heartbeat(message)
        elif isinstance(message, ErrorMessage):
            logger.warning("worker %s reports %s: %s", self.worker_id, message.error.code, message.error.message)
            self.services.metrics.protocol_error("worker")
            await self.close(CLOSE_PROTOCOL_ERROR, message.error.code)

    async def _on_heartbeat(self, heartbeat: Heartbeat) -> None:
        was_draining = self.draining
        self.health = heartbeat
        self.health_at = time.monotonic()
        if heartbeat.draining != was_draining:
            ids = {"worker_id": self.worker_id}
            if heartbeat.draining:
                logger.info("worker %s is draining: no new run goes to it", self.worker_id, extra=ids)
            else:
                logger.info("worker %s takes runs again", self.worker_id, extra=ids)
                self.services.wake()
        if self.worker is not None:  # else not reconciled yet: the reconciliation writes last_seen
            self.services.heard(self.worker_id)
        for run_id, steps in heartbeat.steps.items():
            sync = self.runs.get(run_id)
            if sync is not None and steps:  # else ended meanwhile: its final status has them
                self._note_steps(run_id, sync, steps)

    async def _on_log_chunk(self, frame: bytes) -> None:
        try:
            header, data = decode_log_chunk(frame)
        except (ValueError, ValidationError) as exc:
            raise ProtocolViolation("malformed", f"bad log frame: {exc}") from None
        sync = self._sync(header.run_id)
        if sync.paused:
            return  # the log store is full: the worker keeps these bytes and sends them again
        if header.artifact is not None:
            await self._on_artifact_chunk(header.run_id, sync, header.artifact, header.offset, data)
            return
        if header.offset != sync.held:
            self.resync(header.run_id, sync)
            return
        space = self.services.log_space
        try:
            size = await self.services.logs.append(sync.project, header.run_id, header.offset, data)
        except LogOffsetMismatch as exc:  # someone else wrote the log: trust the store
            sync.held = exc.size
            self.resync(header.run_id, sync)
            return
        except (LogStoreFull, StorageUnavailable) as exc:  # a full disk, or the database store's database away
            sync.paused = True
            space.refused(self, header.run_id, str(exc))
            return
        if space.full:
            space.accepted()
        self.services.metrics.log_bytes.inc(size - header.offset)
        sync.held = size
        sync.resync_at = None
        self.services.events.log_grew(sync.project, header.run_id, size)
        if header.steps:
            self._note_steps(header.run_id, sync, header.steps)

    def _note_steps(self, run_id: str, sync: RunSync, steps: list[RunStep]) -> None:
        """Merge the steps a log chunk brought (new or changed, by index); write them soon."""
        merged = {step.index: step for step in sync.steps}
        for step in steps:  # a step changes once, when it ends: an ended one is never replaced
            known = merged.get(step.index)
            if known is None or known.completed_at is None:
                merged[step.index] = step
        sync.steps = [merged[index] for index in sorted(merged)]
        self._write_soon(run_id, sync)

    def _write_soon(self, run_id: str, sync: RunSync) -> None:
        """Write the start and steps of a running run in `STEPS_WRITE_DELAY` (once for all changes until then)."""
        if sync.steps_timer is None:
            sync.steps_timer = asyncio.get_running_loop().call_later(
                STEPS_WRITE_DELAY, lambda: self._spawn(self._write_steps(run_id, sync), f"steps {run_id}")
            )

    async def _write_steps(self, run_id: str, sync: RunSync) -> None:
        """Store the start and steps of a run still running here (else its final status carries them).

        Only while this session holds the run and the run is running: a connection that ended
        (the worker's next one sends every step again), or a final status recorded meanwhile,
        is never overwritten with older steps.
        """
        sync.steps_timer = None
        if (
            sync.finishing
            or self.runs.get(run_id) is not sync
            or self.services.sessions.get(self.worker_id) is not self
        ):
            return
        started = sync.started
        steps = {"steps": sync.steps} if sync.steps else {}
        try:
            await self.services.lifecycle.update_running(run_id, RunUpdate(**started, **steps))
        except StorageError as exc:  # the next chunk's steps, or the final status, write them
            logger.info("worker %s: steps of run %s not stored yet: %s", self.worker_id, run_id, exc)
            return
        if sync.started is started:
            sync.started = {}

    async def _on_artifact_chunk(self, run_id: str, sync: RunSync, path: str, offset: int, data: bytes) -> None:
        """Store a chunk of an artifact the master asked for; a gap is mended by the next `upload`."""
        size = sync.uploading.get(path)
        if size is None:
            raise ProtocolViolation("unknown-artifact", f"artifact {path!r} of run {run_id} was not asked for")
        if offset + len(data) > size:
            raise ProtocolViolation("too-big", f"artifact {path!r} of run {run_id} is larger than its {size} bytes")
        append = (sync.project, run_id, path, offset, data)
        try:
            if len(data) <= INLINE_APPEND:
                self.services.artifacts.append(*append)
            else:
                await asyncio.to_thread(self.services.artifacts.append, *append)
        except LogOffsetMismatch:
            return  # a copy sent twice; the final status that follows asks for what is missing
        except LogStoreFull as exc:
            sync.paused = True
            self.services.log_space.refused(self, run_id, str(exc))
            return
        sync.stalled = 0
        self.services.metrics.log_bytes.inc(len(data))

    async def _missing_artifacts(self, run_id: str, sync: RunSync, state: WorkerRunState) -> dict[str, int]:
        """The artifacts not stored whole yet: path → bytes held (a copy with a wrong SHA-256 is dropped)."""
        store = self.services.artifacts

        def check() -> tuple[dict[str, int], int]:
            missing: dict[str, int] = {}
            mismatched = 0
            for artifact in state.artifacts:
                if artifact.path in sync.verified:
                    continue
                held = store.held(sync.project, run_id, artifact.path)
                if held == artifact.size and store.sha256(sync.project, run_id, artifact.path) == artifact.sha256:
                    sync.verified.add(artifact.path)
                    continue
                if held >= artifact.size:  # whole but different, or longer: start it again
                    logger.warning(
                        "run %s: artifact %s does not match its checksum: uploaded again", run_id, artifact.path
                    )
                    store.discard(sync.project, run_id, artifact.path)
                    held = 0
                    mismatched += 1
                missing[artifact.path] = held
            if not missing:
                store.write_manifest(sync.project, run_id, state.artifacts)
            return missing, mismatched

        missing, mismatched = await asyncio.to_thread(check)
        sync.mismatches += mismatched
        if sync.mismatches > STALLED_UPLOADS:
            sync.stalled = STALLED_UPLOADS  # a copy that never matches is not uploaded forever
        return missing

    def send_log_again(self, run_id: str) -> None:
        """The log store may take bytes again: ask the worker to send `run_id` from the offset held."""
        sync = self.runs.get(run_id)
        if sync is None or self._closing or self.services.sessions.get(self.worker_id) is not self:
            return  # ended, or its connection is gone (the next one resyncs it anyway)
        sync.paused = False
        sync.resync_at = None  # a new request, even for the offset asked before
        self.resync(run_id, sync)

    def _sync(self, run_id: str) -> RunSync:
        sync = self.runs.get(run_id)
        if sync is None:
            raise ProtocolViolation("unknown-run", f"run {run_id} is not held by this worker")
        return sync

    async def _on_status(self, state: WorkerRunState) -> None:
        cleaning = self._cleaning.get(state.run_id)
        if cleaning is not None and not cleaning.done():
            return  # sent again before the worker saw the `clean` on its way
        if state.run_id not in self.runs and state.status.is_final and await self._recorded(state):
            # The worker sends an unacknowledged final status again; this copy may come after the
            # run was recorded and its `clean` answered: acknowledge it again, never a violation.
            self._clean(state.run_id)
            return
        sync = self._sync(state.run_id)
        if sync.finishing:
            return  # its final status is being recorded
        if state.status == RunStatus.running:
            if state.steps:
                sync.steps = state.steps
            if state.started_at is not None:
                # Written with the steps in a second: a short run writes its start with its final
                # status, in the same write (an event and a write less per run).
                sync.started = {"started_at": state.started_at, **_image(state)}
                self._write_soon(state.run_id, sync)
            return
        if not state.status.is_final or state.status == RunStatus.cancelled:
            raise ProtocolViolation("bad-status", f"a worker cannot report status {state.status}")
        if sync.held < state.log_size:
            if not sync.paused:  # else the log store's next retry asks for the rest
                self.resync(state.run_id, sync)
            return
        if sync.held > state.log_size:
            raise ProtocolViolation("bad-status", f"log_size {state.log_size} is below the {sync.held} bytes sent")
        if state.artifacts:
            if sync.paused:
                return  # the store is full: its next retry asks for the status again
            # Awaited in the receive loop (a copy of this status waits behind the check): hashing
            # a run's 1 GiB of artifacts takes seconds, well within the heartbeat timeout.
            missing = await self._missing_artifacts(state.run_id, sync, state)
            if missing and sync.stalled < STALLED_UPLOADS:
                sync.stalled += 1  # reset by the next artifact byte stored
                sync.uploading = {artifact.path: artifact.size for artifact in state.artifacts}
                self.send_request(Upload(id=0, run_id=state.run_id, artifacts=missing))
                return
            if missing:
                names = ", ".join(sorted(missing))
                logger.warning(
                    "run %s: artifacts %s never arrived whole: the run ends without them", state.run_id, names
                )
                kept = [artifact for artifact in state.artifacts if artifact.path not in missing]
                await asyncio.to_thread(self.services.artifacts.write_manifest, sync.project, state.run_id, kept)
        sync.finishing = True
        self._spawn(self._finish(state), f"finish {state.run_id}")

    async def _finish(self, state: WorkerRunState) -> None:
        """Record a final status (retried until the database takes it), then clean the run."""
        changes = RunUpdate(
            results=state.results,
            reason=state.reason,
            completed_at=state.completed_at or utcnow(),
            started_at=state.started_at,
            **_image(state),
        )
        if state.steps:  # an older worker reports none: keep what its log chunks never brought either
            changes.steps = state.steps
        ids = {"worker_id": self.worker_id, "run_id": state.run_id}

        async def record() -> Any:
            return await self.services.lifecycle.transition(state.run_id, RUNNING, state.status, changes)

        run = await until_stored(record, f"final status of run {state.run_id}", self.services.metrics)
        if run is None:
            logger.info(
                "worker %s: final status of run %s was recorded already", self.worker_id, state.run_id, extra=ids
            )
        else:
            logger.info("run %s %s on worker %s", state.run_id, state.status, self.worker_id, extra=ids)
        self.runs.pop(state.run_id, None)
        self.services.wake()
        # The acknowledgement of the final status: the worker sends it again until it comes.
        self._clean(state.run_id)

    def _clean(self, run_id: str) -> None:
        """Send `clean`, the acknowledgement of a stored final status; a copy of that status
        arriving before the worker answers it is ignored (the answer's callback may run later
        than the next message: `_on_status` looks at whether the answer came, not at the set)."""
        cleaned = self.send_request(Clean(id=0, run_id=run_id))
        self._cleaning[run_id] = cleaned
        cleaned.add_done_callback(lambda done: self._forget_clean(run_id, done))

    def _forget_clean(self, run_id: str, done: asyncio.Future[Response]) -> None:
        if self._cleaning.get(run_id) is done:
            del self._cleaning[run_id]

    async def _recorded(self, state: WorkerRunState) -> bool:
        """True when storage holds `state`'s run final from this worker with its whole log (read only
        for a final status of a run this session does not hold: a late copy, or a violation)."""
        run = await until_stored(
            lambda: self.services.storage.get_run(state.run_id), f"run {state.run_id}", self.services.metrics
        )
        return (
            run is not None
            and run.status.is_final
            and run.worker == self.worker_id
            and await self.services.logs.size(run.project, run.id) >= state.log_size
        )

    async def _watchdog(self) -> None:
        timeout = self.services.settings.heartbeat_timeout
        while True:
            silent = time.monotonic() - self._last_message
            if silent >= timeout:
                logger.warning("worker %s silent for %.1fs: dropping it", self.worker_id, silent)
                await self.close(1011, "heartbeat timeout")
                return
            await asyncio.sleep(timeout - silent)

    async def _setup(self) -> None:
        async def attempt() -> None:
            await reconcile(self)

        await until_stored(attempt, f"reconciliation of worker {self.worker_id}", self.services.metrics)


def _image(state: WorkerRunState) -> dict[str, str]:
    """The image fields of a run in a container, for its update (none for a run on a host)."""
    if state.image is None:
        return {}
    return {"image": state.image, "image_digest": state.image_digest or ""}
