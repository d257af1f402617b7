"""What the `podium` command prints: JSON for scripts, tables for people, progress on a terminal."""

from __future__ import annotations

import json
import shlex
import sys
import threading
import time
from datetime import datetime
from types import TracebackType
from typing import Any, TextIO

from pydantic import BaseModel

from podium_model import Run, RunStep

_SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def out(text: str) -> None:
    """One line on stdout, flushed (so pipes see it at once)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def err(text: str) -> None:
    """One line on stderr."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def to_json(value: Any) -> str:
    """`value` as indented JSON, by the one rule of `--json`.

    A single thing prints as its object; a list of things prints as `{"items": [...]}` (with
    `next_cursor` when the list is one page of more), never as a bare list: scripts read
    `.items` from every listing.
    """
    if isinstance(value, list):
        value = {"items": value}
    return json.dumps(_plain(value), indent=2)


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def local_time(moment: datetime | None) -> str:
    """A time in the local time zone, the zone named (`2026-12-02 16:03:11 CET`); `-` for none."""
    if moment is None:
        return "-"
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def duration(run: Run | RunStep) -> str:
    """How long the run (or one step of it) ran (`4.2s`, `3m05s`, `1h02m`, `+` while it runs); `-` before it started."""
    if run.started_at is None:
        return "-"
    end = run.completed_at or datetime.now(run.started_at.tzinfo)
    seconds = max(0.0, (end - run.started_at).total_seconds())
    if seconds < 60:
        text = f"{seconds:.1f}s"
    elif seconds < 3600:
        text = f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    else:
        text = f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"
    return text if run.completed_at else f"{text}+"


def trigger(run: Run) -> str:
    """Who or what started the run: a user, `schedule NAME`, `pipeline ELEMENT` or the source type."""
    if run.source.user:
        return run.source.user
    if run.source.schedule:
        return f"schedule {run.source.schedule}"
    if run.source.element:
        return f"pipeline {run.source.element}"
    return run.source.type


def short_id(run_id: str) -> str:
    """The run id as the web UI shows it: the last 8 characters (the random tail of the UUIDv7)."""
    return run_id[-8:]


def table(rows: list[list[str]]) -> str:
    """Rows as aligned columns; the first row is the header."""
    if len(rows) <= 1:
        return "(none)"
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


RUN_HEADER = ["RUN", "PROJECT", "JOB", "STATUS", "TRIGGER", "WORKER", "CREATED", "DURATION"]


def run_row(run: Run) -> list[str]:
    """The columns of a run in `runs list` (RUN_HEADER)."""
    return [
        run.id, run.project, run.job, run.status.value, trigger(run), run.worker or "-", local_time(run.created_at),
        duration(run),
    ]  # fmt: skip


def run_details(run: Run) -> str:
    """A run as `field: value` lines, for `runs show`."""
    lines = [
        f"run:        {run.id}",
        f"job:        {run.project}/{run.job}",
        f"status:     {run.status.value}" + (f" ({run.reason})" if run.reason else ""),
        f"worker:     {run.worker or '-'}",
        f"trigger:    {trigger(run)}",
        f"created:    {local_time(run.created_at)}",
        f"started:    {local_time(run.started_at)}",
        f"completed:  {local_time(run.completed_at)}",
        f"duration:   {duration(run)}",
    ]
    if run.waiting_reason and not run.status.is_final:
        lines.append(f"waiting:    {run.waiting_reason}")
    if run.image:
        lines.append(f"image:      {run.image}" + (f" ({run.image_digest})" if run.image_digest else ""))
    if run.source.type in ("rerun", "retry") and run.source.run:
        lines.append(f"{run.source.type + ' of:':<12}{run.source.run}")
    if run.attempt > 1 or run.retried_by:
        lines.append(f"attempt:    {run.attempt}" + (f" (retried by {run.retried_by})" if run.retried_by else ""))
    lines += [f"parameter:  {key}={value}" for key, value in sorted(run.parameters.items())]
    if run.results:
        lines.append(f"results:    {json.dumps(run.results, sort_keys=True)}")
    lines += [step_line(step, run.status.is_final) for step in run.steps or []]
    return "\n".join(lines)


def step_line(step: RunStep, final: bool) -> str:
    """One step of `runs show`: `step 2:     exit 3, 0.4s, log from byte 13: sh -c 'exit 3'`."""
    if step.exit_code is not None:
        outcome = f"exit {step.exit_code}" if step.exit_code >= 0 else f"killed by signal {-step.exit_code}"
    else:
        outcome = "did not start" if step.completed_at is not None or final else "running"
    label = f"step {step.index}:"
    return f"{label:<12}{outcome}, {duration(step)}, log from byte {step.log_offset}: {shlex.join(step.argv)}"


class Progress:
    """A one-line spinner with the elapsed time on stderr, only when stderr is a terminal.

    Used as a context manager around a long wait; `message` can change while it spins.
    """

    def __init__(self, message: str, stream: TextIO | None = None, interval: float = 0.1) -> None:
        self.message = message
        self._stream = stream or sys.stderr
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = time.monotonic()

    @property
    def enabled(self) -> bool:
        """Whether anything is drawn (stderr is a terminal)."""
        return self._stream.isatty()

    def __enter__(self) -> Progress:
        if self.enabled:
            self._thread = threading.Thread(target=self._spin, name="podium-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._stream.write("\r\033[K")
            self._stream.flush()

    def _spin(self) -> None:
        frame = 0
        # The event's timeout paces the redraw; set() ends it at once.
        while not self._stop.wait(self._interval):
            elapsed = time.monotonic() - self._started
            self._stream.write(f"\r\033[K{_SPINNER[frame % len(_SPINNER)]} {self.message} ({elapsed:.0f}s)")
            self._stream.flush()
            frame += 1
