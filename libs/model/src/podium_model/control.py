"""The contract between the master and the api: control answers and the change events.

The api calls the master's control API (`POST /control/...`, with the control secret) and
follows its change feed (`/control/events`, a websocket). Both ends use these models:

- every control call answers a `ControlAnswer` (`result` says what the master did);
- every text frame of the feed is a JSON array of `MasterEvent`s, in publication order:
  `RunChanged` (`{"kind": "run", "run": <Run>}`), `WorkerChanged`
  (`{"kind": "worker", "worker": <Worker>}`) and `LogGrew`
  (`{"kind": "log", "project", "run_id", "size"}`).

The master builds events on its hot path (every run change publishes one) with
`model_construct`, from models it already holds, so publishing validates nothing again; the
api validates each frame once, as it arrives (`events_adapter.validate_json`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from podium_model._base import Model
from podium_model.runs import Run, RunStatus
from podium_model.workers import Worker


class ControlResult(StrEnum):
    """What the master did with a control call."""

    dispatching = "dispatching"
    """`/control/dispatch`: the dispatcher and the scheduler were woken."""
    cancelled = "cancelled"
    """The pending run is now cancelled."""
    unchanged = "unchanged"
    """The run was not in a status the call applies to (`status` says which); nothing changed."""
    unknown = "unknown"
    """No such run."""
    sent = "sent"
    """The abort was sent to the worker that holds the run."""
    deferred = "deferred"
    """The run's worker is not connected: its `should_abort` flag acts once it is back."""
    aborting = "aborting"
    """A pipeline run: its children are being stopped."""
    refreshed = "refreshed"
    """The worker's stored settings were read again."""
    disconnected = "disconnected"
    """The worker's connection was closed."""
    not_connected = "not-connected"
    """The worker is not connected; its flag was cleared."""


class ControlAnswer(Model):
    """The body of every answer of the master's control API."""

    result: ControlResult
    status: RunStatus | None = Field(default=None, description="The run's status after the call (run calls)")
    run: Run | None = Field(default=None, description="The run after the call, when it changed")


class RunChanged(Model):
    """A run's new state, after every change the master makes."""

    kind: Literal["run"] = "run"
    run: Run


class WorkerChanged(Model):
    """A worker's new state."""

    kind: Literal["worker"] = "worker"
    worker: Worker


class LogGrew(Model):
    """The master's log store now holds `size` bytes of a run's log (0: the log was emptied)."""

    kind: Literal["log"] = "log"
    project: str
    run_id: str
    size: int


MasterEvent = Annotated[RunChanged | WorkerChanged | LogGrew, Field(discriminator="kind")]
"""One event of the master's change feed."""

event_adapter: TypeAdapter[MasterEvent] = TypeAdapter(MasterEvent)
"""Validates or dumps one event."""
events_adapter: TypeAdapter[list[MasterEvent]] = TypeAdapter(list[MasterEvent])
"""Validates or dumps one frame of the feed (a JSON array of events)."""
