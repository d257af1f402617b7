"""A run directory on the worker's disk (layout in `podium_worker._runfiles`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from pathlib import Path

from pydantic import ValidationError

from podium_model import RunStatus, utcnow
from podium_model.messages import RunRequest, WorkerRunState
from podium_worker import _runfiles

SPAWNED_PID = "spawned.pid"
"""The pid as the worker saw it at spawn time, in case the executor dies before writing its own."""


class RunDirectory:
    """Paths and reads of one run's files; every read tolerates a missing or partial file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.run_id = path.name
        self._final: WorkerRunState | None = None  # a final state never changes: read it once

    def file(self, name: str) -> Path:
        """A file of the run directory."""
        return self.path / name

    def write_request(self, request: RunRequest) -> None:
        """Create the directory and store the request the executor reads, without what is handed
        over in memory: its secrets, the run token and its secret parameters' values
        (`podium_worker._runfiles`)."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.path.chmod(0o711)  # --run-as: the job's user passes through to its workspace, lists nothing
        stored = request.model_dump(mode="json", exclude={"secrets", "payload"})
        for name in _runfiles.HELD_BACK:
            stored["environment"].pop(name, None)
        if request.payload is not None:  # before the request: the executor starts once that exists
            payload = self.file(_runfiles.PAYLOAD)
            with open(os.open(payload, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as file:
                file.write(request.payload)
        for key in request.secret_parameters:
            stored["parameters"].pop(key, None)
        _runfiles.write_json_atomic(self.file(_runfiles.REQUEST), stored)

    def read_request(self) -> RunRequest | None:
        """The stored request, or None when missing or unreadable."""
        try:
            return RunRequest.model_validate_json(self.file(_runfiles.REQUEST).read_bytes())
        except (OSError, ValidationError):
            return None

    def read_state(self) -> WorkerRunState | None:
        """The executor's last state, or None before it wrote one."""
        if self._final is not None:
            return self._final
        try:
            state = WorkerRunState.model_validate_json(self.file(_runfiles.STATE).read_bytes())
        except (OSError, ValidationError):
            return None
        if state.status.is_final:
            self._final = state
        return state

    def write_state(self, state: WorkerRunState) -> None:
        """Replace the state atomically (the worker does so only for a dead executor)."""
        _runfiles.write_json_atomic(self.file(_runfiles.STATE), state.model_dump(mode="json"))
        self._final = state if state.status.is_final else None

    def log_size(self) -> int:
        """Bytes in the log so far."""
        try:
            return self.file(_runfiles.LOG).stat().st_size
        except FileNotFoundError:
            return 0

    def read_log(self, offset: int, limit: int) -> bytes:
        """Up to `limit` log bytes from `offset`."""
        try:
            with self.file(_runfiles.LOG).open("rb") as file:
                file.seek(offset)
                return file.read(limit)
        except FileNotFoundError:
            return b""

    def pid(self) -> int | None:
        """The executor's pid (its own file, else the one noted at spawn)."""
        for name in (_runfiles.PID, SPAWNED_PID):
            with contextlib.suppress(OSError, ValueError):
                return int(self.file(name).read_text().strip())
        return None

    def executor_alive(self) -> bool:
        """True while the executor process exists."""
        pid = self.pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def mark_lost(self, reason: str) -> WorkerRunState:
        """Write a final `exception` state for a run whose executor died without one."""
        previous = self.read_state()
        state = WorkerRunState(
            run_id=self.run_id,
            status=RunStatus.exception,
            log_size=self.log_size(),
            results=previous.results if previous else {},
            reason=reason,
            started_at=previous.started_at if previous else None,
            completed_at=utcnow(),
            steps=previous.steps if previous else [],
        )
        self.write_state(state)
        return state

    def abort(self, reason: str, grace: float) -> None:
        """Ask the executor to abort: `abort.json`, then SIGTERM."""
        _runfiles.write_abort(self.path, reason, grace)
        # Only the executor's own pid file says its handlers are in place; before that it
        # reads abort.json itself when it starts.
        pid = None
        with contextlib.suppress(OSError, ValueError):
            pid = int(self.file(_runfiles.PID).read_text().strip())
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)

    def delete(self) -> None:
        """Remove the run's files."""
        shutil.rmtree(self.path, ignore_errors=True)

    def delete_quickly(self) -> bool:
        """Remove the run's files if its workspace is empty (a few unlinks); False if it is not.

        Most runs leave nothing in their workspace: their directory goes without a thread or a
        tree walk. A workspace with files is left for `delete`, in a thread.
        """
        try:
            with contextlib.suppress(FileNotFoundError):
                os.rmdir(self.file(_runfiles.WORKSPACE))
            with os.scandir(self.path) as entries:
                for entry in entries:
                    os.unlink(entry.path)  # a directory here fails: `delete` then
            os.rmdir(self.path)
        except FileNotFoundError:
            return not self.path.exists()
        except OSError:
            return False
        return True
