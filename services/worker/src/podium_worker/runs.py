"""The runs a worker holds: executor processes, their notifications, and log streaming.

A `LocalRun` streams to the master only once the master asked for it on the current
connection (`execute`, or `resync` with the offset the master holds). It sends the log from
that offset as binary frames, its `running` status, and its final status only after every
log byte up to the final `log_size` went out. Executors started by this process (forked by
the pre-forked launcher, else spawned directly) notify through a pipe; runs recovered from
disk after a restart are watched with a slow timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from podium_model import RunStatus, RunStep
from podium_model.messages import HEARTBEAT_STEPS, RunRequest, StatusUpdate, WorkerRunState, encode_log_chunk
from podium_worker import _runfiles
from podium_worker.launch import Launcher, LaunchError
from podium_worker.rundir import SPAWNED_PID, RunDirectory

logger = logging.getLogger(__name__)

USE_LAUNCHER = os.environ.get("PODIUM_WORKER_LAUNCHER", "on") != "off"
"""Start executors through the pre-forked launcher (`podium_worker.launcher`), not a fresh
interpreter each; ``PODIUM_WORKER_LAUNCHER=off`` turns it off (for comparisons and diagnosis)."""

INLINE_READ = 65536
"""Log bytes read on the event loop; more go through a thread (a slow disk must not stall it)."""

FINAL_RESEND_FIRST = 10.0
FINAL_RESEND_MAX = 120.0
"""A final status the master has not acknowledged (with `clean`) is sent again after 10 s, then
after doubling delays up to 120 s: the master retries storing it itself; this covers a master
that lost it."""

SendBytes = Callable[[bytes], Awaitable[None]]
SendText = Callable[[str], Awaitable[None]]


class Link:
    """The current connection to the master, as the runs use it."""

    def __init__(self, send_text: SendText, send_bytes: SendBytes) -> None:
        self.send_text = send_text
        self.send_bytes = send_bytes


class LocalRun:
    """One run on this worker's disk, with or without a live executor."""

    def __init__(self, directory: RunDirectory, chunk_size: int, watch_interval: float) -> None:
        self.dir = directory
        self.run_id = directory.run_id
        self.process: subprocess.Popen[bytes] | None = None  # a direct start (no launcher)
        self.watched = False  # this worker process started the executor and watches its pipe
        self._retry = False  # a launched executor that never started gets one direct start
        self._handover: int | None = None  # the secrets' memory file, until the executor read it
        self.changed = asyncio.Event()
        self.offset = 0
        self.reported: list[RunStep] | None = None
        """The steps the master heard of on this stream (None: not since its `running` status)."""
        self._generation = 0
        self._pump: asyncio.Task[None] | None = None
        self.cleaned = False
        self.uploads: dict[str, int] = {}  # artifacts the master asked for: path → offset it holds
        self._chunk_size = chunk_size
        self._watch_interval = watch_interval

    # Executor ----------------------------------------------------------------------------------

    def start(self, request: RunRequest, launcher: Launcher | None = None) -> None:
        """Write the request and start the executor in its own session (through `launcher` if any).

        The secrets, the run token and the secret parameters' values go to the executor's stdin,
        never to the disk: an anonymous
        memory file, kept until the executor took them (its first notification) in case the
        launched executor never starts and a direct start follows.
        """
        self.dir.write_request(request)
        held = {key: request.parameters[key] for key in request.secret_parameters if key in request.parameters}
        self._handover = _memory_file(_runfiles.encode_handover(request.secrets, request.environment, held))
        try:
            self._spawn(launcher)
        except BaseException:
            self._drop_handover()
            raise

    def _drop_handover(self) -> None:
        if self._handover is not None:
            os.close(self._handover)
            self._handover = None

    def _spawn(self, launcher: Launcher | None) -> None:
        """Start the executor: forked by the launcher, else ``python -m podium_worker.executor``."""
        read_fd, write_fd = os.pipe()
        pid: int | None = None
        handover = self._handover if self._handover is not None else os.open(os.devnull, os.O_RDONLY)
        os.lseek(handover, 0, os.SEEK_SET)  # a retry reads it again from the start
        try:
            if launcher is not None:
                self._retry = True
                try:
                    pid = launcher.launch(str(self.dir.path), write_fd, handover)
                except LaunchError as exc:
                    logger.warning("run %s: %s", self.run_id, exc)
                    if exc.sent:
                        pid = 0  # it may run: the pipe's end tells, then a direct start follows
            if pid is None:
                self._retry = False
                # A fresh interpreter reports what breaks its start (a failed import) on its fd 2:
                # that goes to executor.err, created now (a forked executor creates it on its
                # first write only).
                with open(
                    os.open(self.dir.file(_runfiles.ERR), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab"
                ) as err:
                    self.process = subprocess.Popen(
                        [sys.executable, "-m", "podium_worker.executor", str(self.dir.path)],
                        stdin=handover,
                        stdout=write_fd,
                        stderr=err,
                        start_new_session=True,
                        close_fds=True,
                    )
                pid = self.process.pid
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
            if handover != self._handover:
                os.close(handover)
        if pid:
            self.dir.file(SPAWNED_PID).write_text(str(pid))
        self.watched = True
        os.set_blocking(read_fd, False)
        asyncio.get_running_loop().add_reader(read_fd, self._on_pipe, read_fd)
        logger.info("run %s: executor %d started", self.run_id, pid)

    def _on_pipe(self, fd: int) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        self.changed.set()
        if data:
            self._drop_handover()  # the executor read its stdin before its first notification
        if not data:
            asyncio.get_running_loop().remove_reader(fd)
            os.close(fd)
            asyncio.get_running_loop().create_task(self._ended(), name=f"reap {self.run_id}")

    async def _ended(self) -> None:
        """Every holder of the notification pipe is gone: the executor has exited."""
        code: int | None = None
        if self.process is not None:
            code = await asyncio.to_thread(self.process.wait)
        if self.cleaned:
            self._drop_handover()
            return  # the master holds everything and the files are gone
        state = self.dir.read_state()
        retry = self._retry and not self.dir.file(_runfiles.PID).exists()
        if not retry:
            self._drop_handover()
        if state is None or not state.status.is_final:
            if retry:
                logger.warning("run %s: the launched executor never started; starting it directly", self.run_id)
                try:
                    self._spawn(None)
                    return
                except OSError as exc:
                    self._drop_handover()
                    code = None
                    logger.error("run %s: cannot start the executor: %s", self.run_id, exc)
            how = "" if code is None else f" with code {code}"
            logger.error("run %s: executor exited%s and no final status", self.run_id, how)
            self.dir.mark_lost(f"the executor exited{how} before the run ended")
        self.changed.set()

    def state(self) -> WorkerRunState:
        """What the worker knows of the run now (a run without a state yet counts as running)."""
        state = self.dir.read_state()
        if state is None:
            return WorkerRunState(run_id=self.run_id, status=RunStatus.running, log_size=self.dir.log_size())
        return state

    @property
    def is_final(self) -> bool:
        """True once the executor wrote (or the worker wrote for it) a final state."""
        state = self.dir.read_state()
        return state is not None and state.status.is_final

    def _check_lost(self) -> None:
        """A recovered run whose executor died without a final state ends `exception`.

        So does one whose executor never started before the worker restarted: its secrets lived
        only in the memory of the worker that received them, so it cannot be started again.
        """
        if self.watched:
            return
        state = self.dir.read_state()
        if (state is None or not state.status.is_final) and not self.dir.executor_alive():
            if self.dir.file(_runfiles.PID).exists():
                self.dir.mark_lost("the executor died while the worker was away")
            else:
                self.dir.mark_lost("the worker restarted before the executor started (secrets are never kept on disk)")

    def unreported_steps(self) -> list[RunStep]:
        """The running run's steps the master has not heard of (the latest `HEARTBEAT_STEPS`), now
        counted as heard: a heartbeat carries them. Empty unless streaming since its `running` status."""
        if self.reported is None or self._pump is None:
            return []
        state = self.dir.read_state()
        if state is None or state.status != RunStatus.running:
            return []  # a final status carries them all
        changed = _changed_steps(self.reported, state.steps)
        self.reported = state.steps
        return changed[-HEARTBEAT_STEPS:]

    # Streaming ---------------------------------------------------------------------------------

    def attach(self, link: Link, offset: int) -> None:
        """Stream to `link` from `offset` (the master holds that many bytes)."""
        self.detach()
        self.offset = offset
        self.reported = None
        self._generation += 1
        self._pump = asyncio.get_running_loop().create_task(self._stream(link), name=f"stream {self.run_id}")

    def upload(self, link: Link, artifacts: dict[str, int]) -> None:
        """Send the artifacts named from the offsets given (the master holds that much), then the
        final status again.

        Raises:
            ValueError: the run is not final, or an artifact named is not one it kept.
        """
        state = self.dir.read_state()
        if state is None or not state.status.is_final:
            raise ValueError(f"run {self.run_id} has not ended: it has no artifacts yet")
        sizes = {artifact.path: artifact.size for artifact in state.artifacts}
        for path, offset in artifacts.items():
            if path not in sizes:
                raise ValueError(f"run {self.run_id} kept no artifact {path!r}")
            if offset > sizes[path]:
                raise ValueError(f"artifact {path!r} has {sizes[path]} bytes, not {offset}")
        self.uploads = dict(artifacts)
        if self._pump is None or self._pump.done():
            self.attach(link, state.log_size)
        self.changed.set()

    async def _upload(self, link: Link, state: WorkerRunState, generation: int) -> bool:
        """Send what `uploads` asks of the run's artifacts; False when a newer stream took over."""
        index = {artifact.path: (number, artifact.size) for number, artifact in enumerate(state.artifacts)}
        while self.uploads:
            path, offset = next(iter(self.uploads.items()))
            number, size = index[path]
            file = self.dir.file(_runfiles.ARTIFACTS) / str(number)
            while offset < size:
                data = await asyncio.to_thread(_read, file, offset, min(self._chunk_size, size - offset))
                if not data:
                    raise OSError(f"artifact {path} of run {self.run_id} is shorter on disk than its {size} bytes")
                await link.send_bytes(encode_log_chunk(self.run_id, offset, data, artifact=path))
                if generation != self._generation:
                    return False
                offset += len(data)
            if self.uploads.get(path) is not None:
                del self.uploads[path]
        return True

    def detach(self) -> None:
        """Stop streaming (the connection is gone, or the run is cleaned)."""
        if self._pump is not None:
            self._pump.cancel()
            self._pump = None

    async def _stream(self, link: Link) -> None:
        generation = self._generation
        sent_running = False
        sent_final_at: int | None = None
        resend = FINAL_RESEND_FIRST
        try:
            while True:
                self.changed.clear()
                self._check_lost()
                state = self.dir.read_state()
                if state is not None and state.status == RunStatus.running and not sent_running:
                    sent_running = True
                    self.reported = state.steps
                    await link.send_text(StatusUpdate(state=state).model_dump_json())
                while True:
                    start = self.offset
                    waiting = self.dir.log_size() - start
                    if waiting <= 0:
                        break
                    if waiting <= INLINE_READ:  # a thread hop costs more than reading a few bytes
                        data = self.dir.read_log(start, self._chunk_size)
                    else:
                        data = await asyncio.to_thread(self.dir.read_log, start, self._chunk_size)
                    if not data:
                        break
                    # The steps changed since the master heard of them ride on this chunk (a final
                    # status carries them all anyway).
                    reported = self.reported
                    changed = (
                        _changed_steps(reported, state.steps) if state is not None and reported is not None else []
                    )
                    await link.send_bytes(encode_log_chunk(self.run_id, start, data, steps=changed))
                    if generation != self._generation:
                        return
                    self.offset = start + len(data)
                    if changed:
                        assert state is not None
                        self.reported = state.steps
                if state is not None and state.status.is_final:
                    if self.offset >= state.log_size and self.uploads:
                        if not await self._upload(link, state, generation):
                            return
                        sent_final_at = None  # the master checks the artifacts again on it
                    if self.offset >= state.log_size and sent_final_at != self.offset:
                        sent_final_at = self.offset
                        await link.send_text(StatusUpdate(state=state).model_dump_json())
                        logger.debug("run %s: final status %s sent", self.run_id, state.status)
                    # Only a resync or a clean (the master's acknowledgement, sent once the final
                    # status is stored) changes anything now; until the clean, it goes again.
                    try:
                        await asyncio.wait_for(self.changed.wait(), resend)
                    except TimeoutError:
                        logger.info("run %s: final status not acknowledged in %.0f s: sent again", self.run_id, resend)
                        sent_final_at = None
                        resend = min(resend * 2, FINAL_RESEND_MAX)
                elif not self.watched:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.changed.wait(), self._watch_interval)
                else:
                    await self.changed.wait()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the connection broke: the next connection resyncs
            logger.info("run %s: streaming stopped: %s", self.run_id, exc)


class RunSet:
    """Every run directory under `home/runs`."""

    def __init__(self, home: Path, chunk_size: int, watch_interval: float, use_launcher: bool = USE_LAUNCHER) -> None:
        self.root = home / "runs"
        self.launcher = Launcher() if use_launcher else None
        if self.launcher is not None:
            self.launcher.start()  # warm before the first run
        self.root.mkdir(parents=True, exist_ok=True)
        self.runs: dict[str, LocalRun] = {}
        self._cleaned = asyncio.Event()
        self._chunk_size = chunk_size
        self._watch_interval = watch_interval
        self.containers: Any = None
        """The engine client of ``--containers`` (`podium_worker.engine`), None without."""

    def recover(self) -> None:
        """Find the runs left on disk by a previous worker process."""
        for path in sorted(self.root.iterdir()):
            if path.is_dir() and (path / _runfiles.REQUEST).exists() and path.name not in self.runs:
                self.runs[path.name] = self._new(path)
                logger.info("recovered run %s from disk", path.name)

    def _new(self, path: Path) -> LocalRun:
        return LocalRun(RunDirectory(path), self._chunk_size, self._watch_interval)

    def active_count(self) -> int:
        """Runs whose executor has not ended yet (they take an executor slot)."""
        return sum(1 for run in self.runs.values() if not run.is_final)

    def create(self, request: RunRequest) -> LocalRun:
        """Start a new run.

        Raises:
            ValueError: the run id cannot name a directory.
        """
        if not _runfiles_safe(request.run_id):
            raise ValueError(f"invalid run id {request.run_id!r}")
        run = self._new(self.root / request.run_id)
        self.runs[request.run_id] = run
        try:
            run.start(request, self.launcher)
        except OSError:
            del self.runs[request.run_id]
            run.dir.delete()
            raise
        return run

    def close(self) -> None:
        """Stop the launcher (executors keep running)."""
        if self.launcher is not None:
            self.launcher.close()

    def detach_all(self) -> None:
        """The connection is gone: stop every stream."""
        for run in self.runs.values():
            run.detach()

    async def clean(self, run_id: str) -> None:
        """Delete a run's files (the master holds everything)."""
        run = self.runs.pop(run_id, None)
        if run is None:
            return
        run.detach()
        run.cleaned = True
        if self.containers is not None and run.dir.file(_runfiles.EXCHANGE).exists():  # it may have a container
            await self._remove_container(run_id)
        if not run.dir.delete_quickly():
            await asyncio.to_thread(run.dir.delete)
        logger.debug("run %s cleaned", run_id)  # the start is logged; the master logs the end
        self._cleaned.set()

    async def _remove_container(self, run_id: str) -> None:
        from podium_worker import engine

        try:
            await asyncio.to_thread(engine.remove_run, self.containers, run_id)
        except Exception as exc:  # the engine is away: the next start's orphan sweep removes it
            logger.warning("cannot remove the container of run %s: %s", run_id, exc)

    async def wait_until_empty(self) -> None:
        """Return once every run was cleaned: the master holds their logs and final statuses."""
        while self.runs:
            self._cleaned.clear()
            await self._cleaned.wait()


def _read(path: Path, offset: int, limit: int) -> bytes:
    with path.open("rb") as file:
        file.seek(offset)
        return file.read(limit)


def _changed_steps(sent: list[RunStep], now: list[RunStep]) -> list[RunStep]:
    """The steps of `now` that are new or differ from `sent` (a step changes once: when it ends)."""
    first = next((i for i, (old, new) in enumerate(zip(sent, now, strict=False)) if old != new), len(sent))
    return now[first:]


def _memory_file(data: bytes) -> int:
    """An anonymous file holding `data`, in memory only (``memfd``), at offset 0."""
    fd = os.memfd_create("podium-handover", os.MFD_CLOEXEC)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except BaseException:
        os.close(fd)
        raise
    return fd


def _runfiles_safe(run_id: str) -> bool:
    return bool(run_id) and len(run_id) <= 64 and all(c.isalnum() or c in "-_." for c in run_id) and run_id[0] != "."
