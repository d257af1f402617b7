"""What the `podium` command prints: JSON for scripts, tables for people, progress on a terminal."""

from __future__ import annotations

import json
import sys
import threading
import time
from types import TracebackType
from typing import Any, TextIO

from pydantic import BaseModel

from podium_model import Run

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
    """`value` (models, lists of models, plain data) as indented JSON."""
    if isinstance(value, BaseModel):
        return value.model_dump_json(indent=2)
    if isinstance(value, list):
        value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    return json.dumps(value, indent=2)


def table(rows: list[list[str]]) -> str:
    """Rows as aligned columns; the first row is the header."""
    if len(rows) <= 1:
        return "(none)"
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def run_row(run: Run) -> list[str]:
    """The columns of a run in `runs list`."""
    return [run.id, run.job, run.status.value, run.worker or "-", run.created_at.strftime("%Y-%m-%d %H:%M:%S")]


def run_details(run: Run) -> str:
    """A run as `field: value` lines, for `runs show`."""
    lines = [
        f"run:        {run.id}",
        f"job:        {run.project}/{run.job}",
        f"status:     {run.status.value}" + (f" ({run.reason})" if run.reason else ""),
        f"worker:     {run.worker or '-'}",
        f"source:     {run.source.type}",
        f"created:    {run.created_at.isoformat()}",
        f"started:    {run.started_at.isoformat() if run.started_at else '-'}",
        f"completed:  {run.completed_at.isoformat() if run.completed_at else '-'}",
    ]
    lines += [f"parameter:  {key}={value}" for key, value in sorted(run.parameters.items())]
    if run.results:
        lines.append(f"results:    {json.dumps(run.results, sort_keys=True)}")
    return "\n".join(lines)


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
