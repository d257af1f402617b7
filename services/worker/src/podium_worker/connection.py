"""The worker's connection to the master: authenticate, answer requests, reconnect.

The worker opens one websocket to the master with its credentials in the upgrade request,
answers the master's requests (`describe`, `execute`, `abort`, `list`, `request`, `resync`,
`clean`), sends heartbeats, and reconnects with exponential backoff and jitter whenever the
connection drops. Runs keep executing meanwhile; the master resyncs them on reconnection.

Heartbeats carry the worker's health (`podium_worker.health`): one goes out as soon as the
connection opens and one when draining starts, so the master learns at once that a draining
worker takes no new run; an `execute` that crossed it on the wire is refused (`draining`) and
the master puts the run back to pending.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import logging
import random
import ssl
from typing import Any

from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

import podium_worker
from podium_model.limits import EXECUTE_MESSAGE_BYTES
from podium_model.messages import (
    CLOSE_PROTOCOL_ERROR,
    PROTOCOL_VERSION,
    Abort,
    Clean,
    Describe,
    ErrorMessage,
    Execute,
    GetRequest,
    Heartbeat,
    ListRuns,
    ProtocolError,
    Response,
    Resync,
    RunList,
    Upload,
    master_message_adapter,
)
from podium_model.workers import WorkerDescription
from podium_worker.health import disk_full, measure
from podium_worker.runs import Link, LocalRun, RunSet
from podium_worker.security import client_context, describe_tls_failure
from podium_worker.settings import WorkerSettings

logger = logging.getLogger(__name__)


def backoff_delay(attempt: int, maximum: float, base: float = 0.1) -> float:
    """Exponential backoff with full jitter: a random pause up to `base * 2**attempt`, capped."""
    ceiling = min(maximum, base * (2 ** min(attempt, 30)))
    return random.uniform(ceiling / 2, ceiling)


class _Refusal(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class MasterConnection:
    """Keeps the worker connected to the master until `stop()`."""

    def __init__(self, settings: WorkerSettings, runs: RunSet) -> None:
        self.settings = settings
        self.runs = runs
        self._stop = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._send_lock = asyncio.Lock()
        self.draining = False
        self._disk_full = False
        self._turn = 0  # the index in `settings.masters` of the master tried now

    @property
    def master(self) -> str:
        """The URL of the master connected to, or tried next."""
        return self.settings.masters[self._turn]

    @property
    def connected(self) -> bool:
        """True while a websocket to the master is open."""
        return self._ws is not None

    def heartbeat(self) -> Heartbeat:
        """The heartbeat the worker would send now (its health); a disk that fills or frees is logged once."""
        settings = self.settings
        heartbeat = measure(self.runs, settings.executor_limit, self.draining, settings.home)
        full = disk_full(heartbeat)
        if full != self._disk_full:
            self._disk_full = full
            free = heartbeat.disk_free_bytes
            if full:
                logger.warning("disk under %s full (%s bytes free): run logs wait for space", settings.home, free)
            else:
                logger.info("disk under %s has space again (%s bytes free)", settings.home, free)
        return heartbeat

    async def start_draining(self) -> None:
        """Take no new run from now on, and tell the master at once (when connected)."""
        self.draining = True
        if self._ws is None:
            return  # the first heartbeat of the next connection tells
        try:
            await self._send_text(self.heartbeat().model_dump_json())
        except (ConnectionError, ConnectionClosed) as exc:
            logger.info("could not announce the drain (the next connection will): %s", exc)

    def headers(self) -> dict[str, str]:
        """The upgrade request's credentials."""
        secret = f"{self.settings.user}:{self.settings.token.get_secret_value()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(secret).decode(), "X-Podium-Worker-Id": self.settings.id}

    async def stop(self) -> None:
        """Close the connection and stop reconnecting."""
        self._stop.set()
        if self._ws is not None:
            await self._ws.close()

    async def run_forever(self) -> None:
        """Connect, serve, and reconnect until stopped: to the next master at once after a failure
        or a closed connection, with backoff once every master was tried in a row."""
        attempt = 0
        failed_in_a_row = 0
        tls = client_context(self.settings)
        masters = self.settings.masters
        while not self._stop.is_set():
            url = self.master
            served = False
            try:
                async with connect(
                    url,
                    additional_headers=self.headers(),
                    max_size=EXECUTE_MESSAGE_BYTES,  # the master sends nothing larger
                    open_timeout=10,
                    compression=None,
                    ssl=tls if url.startswith("wss:") else None,
                ) as ws:
                    attempt = 0
                    failed_in_a_row = 0
                    served = True
                    self._ws = ws
                    ids = {"worker_id": self.settings.id}
                    logger.info("connected to %s as %s", url, self.settings.id, extra=ids)
                    await self._serve(ws)
                    logger.info("connection to %s closed: %s %s", url, ws.close_code, ws.close_reason)
            except ssl.SSLError as exc:
                trusted = self.settings.ca_file or "the system certificate store"
                reason = describe_tls_failure(exc)
                logger.error("connection to %s refused: %s (trusting %s)", url, reason, trusted)
            except (OSError, InvalidHandshake, ConnectionClosed, TimeoutError) as exc:
                logger.warning("connection to %s failed: %s", url, exc)
            finally:
                self._ws = None
                self.runs.detach_all()
            if self._stop.is_set():
                break
            if len(masters) > 1:
                self._turn = (self._turn + 1) % len(masters)
                failed_in_a_row = 0 if served else failed_in_a_row + 1
                if failed_in_a_row < len(masters):
                    continue  # another master may answer now: no pause before trying it
                failed_in_a_row = 0
            delay = backoff_delay(attempt, self.settings.backoff_max)
            attempt += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    async def _send_text(self, text: str) -> None:
        ws = self._ws
        if ws is None:
            raise ConnectionError("not connected")
        async with self._send_lock:
            await ws.send(text)

    async def _send_bytes(self, data: bytes) -> None:
        ws = self._ws
        if ws is None:
            raise ConnectionError("not connected")
        async with self._send_lock:
            await ws.send(data)

    async def _serve(self, ws: ClientConnection) -> None:
        link = Link(self._send_text, self._send_bytes)
        heartbeat = asyncio.create_task(self._heartbeats(), name="heartbeats")
        try:
            async for frame in ws:
                if isinstance(frame, bytes):
                    await self._refuse("malformed", "unexpected binary frame")
                    return
                try:
                    message = master_message_adapter.validate_json(frame)
                except ValidationError as exc:
                    await self._refuse("malformed", str(exc)[:500])
                    return
                if message.v != PROTOCOL_VERSION:
                    await self._refuse("version", f"protocol version {message.v} is not {PROTOCOL_VERSION}")
                    return
                if isinstance(message, ErrorMessage):
                    logger.error("master reports %s: %s", message.error.code, message.error.message)
                    continue
                if isinstance(message, Response):
                    continue  # the worker sends no requests
                await self._answer(message, link)
        finally:
            heartbeat.cancel()

    async def _refuse(self, code: str, message: str) -> None:
        logger.error("protocol error from the master: %s", message)
        with contextlib.suppress(Exception):
            await self._send_text(ErrorMessage(error=ProtocolError(code=code, message=message)).model_dump_json())
        if self._ws is not None:
            await self._ws.close(CLOSE_PROTOCOL_ERROR, code)

    async def _heartbeats(self) -> None:
        # The first goes out at once: the master learns the health (and a drain) of a new connection.
        while True:
            heartbeat = self.heartbeat()
            # Steps of silent commands ride here (others come with their output's log chunks).
            heartbeat.steps = {
                run.run_id: steps for run in self.runs.runs.values() if (steps := run.unreported_steps())
            }
            try:
                await self._send_text(heartbeat.model_dump_json())
            except (ConnectionError, ConnectionClosed):
                return  # the receive loop sees the closed connection and reconnects
            await asyncio.sleep(self.settings.heartbeat_interval)

    async def _answer(self, message: Any, link: Link) -> None:
        try:
            result = await self._handle(message, link)
            response = Response(id=message.id, result=result)
        except _Refusal as exc:
            response = Response(id=message.id, ok=False, error=ProtocolError(code=exc.code, message=str(exc)))
        await self._send_text(response.model_dump_json())

    async def _handle(self, message: Any, link: Link) -> dict[str, Any] | None:
        runs = self.runs
        if isinstance(message, Describe):
            description = WorkerDescription(
                version=podium_worker.__version__,
                display_name=self.settings.id,
                properties=self.settings.properties,
                executor_limit=self.settings.executor_limit,
                containers=self.settings.containers,
            )
            return description.model_dump(mode="json")
        if isinstance(message, ListRuns):
            return RunList(runs=[run.state() for run in runs.runs.values()]).model_dump(mode="json")
        run: LocalRun | None
        if isinstance(message, Execute):
            request = message.run
            if request.run_id in runs.runs:
                return {"run_id": request.run_id, "started": False}  # a replayed execute
            if self.draining:
                raise _Refusal("draining", f"worker {self.settings.id} is draining: it takes no new run")
            if runs.active_count() >= self.settings.executor_limit:
                raise _Refusal("full", f"executor limit {self.settings.executor_limit} reached")
            request.worker = {**self.settings.properties, "id": self.settings.id}
            try:
                started = runs.create(request)
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # the master holds the run back, uncounted
                    raise _Refusal("disk-full", f"the disk of worker {self.settings.id} is full: {exc}") from exc
                raise _Refusal("start-failed", f"could not start the executor: {exc}") from exc
            except ValueError as exc:
                raise _Refusal("start-failed", f"could not start the executor: {exc}") from exc
            started.attach(link, 0)
            return {"run_id": request.run_id, "started": True}
        if isinstance(message, Resync):
            run = runs.runs.get(message.run_id)
            if run is None:
                raise _Refusal("unknown-run", f"run {message.run_id} is not on this worker")
            run.attach(link, message.offset)
            return None
        if isinstance(message, Upload):
            run = runs.runs.get(message.run_id)
            if run is None:
                raise _Refusal("unknown-run", f"run {message.run_id} is not on this worker")
            try:
                run.upload(link, message.artifacts)
            except ValueError as exc:
                raise _Refusal("unknown-artifact", str(exc)) from exc
            return None
        if isinstance(message, Abort):
            run = runs.runs.get(message.run_id)
            if run is None:
                raise _Refusal("unknown-run", f"run {message.run_id} is not on this worker")
            if not run.is_final:
                await asyncio.to_thread(run.dir.abort, message.reason or "aborted on request", message.grace)
            return None
        if isinstance(message, GetRequest):
            run = runs.runs.get(message.run_id)
            stored = run.dir.read_request() if run is not None else None
            if stored is None:
                raise _Refusal("unknown-run", f"run {message.run_id} is not on this worker")
            return stored.model_dump(mode="json")
        if isinstance(message, Clean):
            run = runs.runs.get(message.run_id)
            if run is not None and not run.is_final:
                raise _Refusal("running", f"run {message.run_id} is still running")
            await runs.clean(message.run_id)
            return None
        raise _Refusal("unknown", f"unexpected message {message.type}")
