"""Master ⇄ worker protocol messages (docs/concepts.md, Master ⇄ worker protocol).

Every control message is a JSON text frame: an object with a `type` discriminator and the
protocol version `v`. Requests carry an `id` and get exactly one `response` with the same id.
Log chunks travel as binary frames (see `encode_log_chunk`) so that log bytes need no
base64 and are written by the master exactly as the commands produced them.

Close codes used on the worker websocket:

- 4400: malformed, unknown or out-of-order message (a protocol error was sent first)
- 4401: missing or refused credentials (the upgrade itself is refused)
- 4409: another connection of the same worker replaced this one
- 4000: disconnect requested by an operator
- 1009: message too big
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, field_serializer

from podium_model._base import Model, UtcDatetime
from podium_model.artifacts import Artifact
from podium_model.jobs import CommandsDefinition
from podium_model.limits import ARTIFACT_FILES
from podium_model.runs import RunStatus, RunStep, Steps
from podium_model.workers import WorkerDescription

PROTOCOL_VERSION = 1

HEARTBEAT_STEPS = 10
"""Steps of one run a heartbeat carries at most (the latest); the final status carries them all."""

CLOSE_PROTOCOL_ERROR = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_REPLACED = 4409
CLOSE_DISCONNECT_REQUESTED = 4000


class _Message(Model):
    v: int = PROTOCOL_VERSION


class _Request(_Message):
    id: int = Field(ge=0)


class RunRequest(Model):
    """Everything a worker needs to execute one run; kept on the worker's disk but for its secrets."""

    run_id: str
    project: str
    job: str
    parameters: dict[str, str] = Field(default_factory=dict)
    definition: CommandsDefinition
    environment: dict[str, str] = Field(default_factory=dict, description="Extra environment for every command")
    worker: dict[str, str] = Field(default_factory=dict, description="The worker's id and properties, for templates")
    secrets: dict[str, str] = Field(
        default_factory=dict,
        repr=False,
        description="The run's secrets, name → value: environment variables of its commands, masked in its log. "
        "The worker never writes them to its disk.",
    )
    payload: str | None = Field(
        default=None,
        repr=False,
        # Left out of the message when None: a worker of the previous release, whose models
        # forbid unknown fields, still executes every run that is not a webhook's.
        exclude_if=lambda value: value is None,
        description="A webhook run's request body: the worker writes it to the run directory (PODIUM_PAYLOAD)",
    )
    secret_parameters: list[str] = Field(
        default_factory=list,
        exclude_if=lambda keys: not keys,  # absent when empty: a worker of the previous release reads the message
        description="The keys of `parameters` whose values are secret: masked in the log like secrets, and "
        "never written to the worker's disk",
    )

    @field_serializer("definition")
    def _without_concurrency(self, definition: CommandsDefinition) -> dict[str, Any]:
        """The definition as sent, without its concurrency limit: the master alone enforces it, and
        a worker of the previous release (which knows no such field) takes every run."""
        return definition.model_dump(mode="json", exclude={"concurrency"})


class WorkerRunState(Model):
    """What a worker knows of one run it holds."""

    run_id: str
    status: RunStatus
    log_size: int = Field(ge=0)
    results: dict[str, Any] = Field(default_factory=dict)
    reason: str | None = None
    started_at: UtcDatetime | None = None
    completed_at: UtcDatetime | None = None
    artifacts: list[Artifact] = Field(
        default_factory=list,
        max_length=ARTIFACT_FILES,
        description="Final status only: the files the executor kept, in the run directory's `artifacts/N` by index",
    )
    image: str | None = Field(default=None, max_length=255, description="A run in a container: its image")
    image_digest: str | None = Field(
        default=None, max_length=400, description="A run in a container: the image's digest, or its id"
    )
    steps: Steps = Field(default_factory=list, description="The commands run so far (older workers send none)")


# Master → worker requests ------------------------------------------------------------------


class Describe(_Request):
    """Ask the worker to describe itself; the result is a `WorkerDescription`."""

    type: Literal["describe"] = "describe"


class Execute(_Request):
    """Start a run in a new executor process."""

    type: Literal["execute"] = "execute"
    run: RunRequest


class Abort(_Request):
    """Stop a running run: SIGTERM to its process group, SIGKILL after `grace` seconds."""

    type: Literal["abort"] = "abort"
    run_id: str
    grace: float = Field(default=10.0, ge=0)
    reason: str | None = None


class ListRuns(_Request):
    """Ask which runs the worker holds; the result is `RunList`."""

    type: Literal["list"] = "list"


class GetRequest(_Request):
    """Ask for the stored `RunRequest` of one run."""

    type: Literal["request"] = "request"
    run_id: str


class Resync(_Request):
    """The master holds `offset` bytes of the run's log: send again from there."""

    type: Literal["resync"] = "resync"
    run_id: str
    offset: int = Field(ge=0)


class Upload(_Request):
    """The master holds `artifacts[path]` bytes of each artifact named: send the rest as binary
    frames (an `artifact` header), then the final status again."""

    type: Literal["upload"] = "upload"
    run_id: str
    artifacts: dict[str, Annotated[int, Field(ge=0)]] = Field(max_length=ARTIFACT_FILES)


class Clean(_Request):
    """The master holds everything of the run: the worker may delete its files."""

    type: Literal["clean"] = "clean"
    run_id: str


class RunList(Model):
    """Result of `list`."""

    runs: list[WorkerRunState]


# Either direction --------------------------------------------------------------------------


class ProtocolError(Model):
    """Why a request or message was refused."""

    code: str
    message: str


class Response(_Message):
    """The one answer to a request."""

    type: Literal["response"] = "response"
    id: int
    ok: bool = True
    result: dict[str, Any] | None = None
    error: ProtocolError | None = None


class ErrorMessage(_Message):
    """Sent just before the sender closes the connection because of a protocol error."""

    type: Literal["error"] = "error"
    error: ProtocolError


# Worker → master events --------------------------------------------------------------------


class StatusUpdate(_Message):
    """A run changed status on the worker (started, or ended with its results).

    A final status carries `log_size`; the master accepts it only once it holds that many bytes.
    """

    type: Literal["status"] = "status"
    state: WorkerRunState


class Heartbeat(_Message):
    """Sent periodically so the master knows the worker is alive, with the worker's health.

    Every field but `running` came later (issue 9): they are optional so that the heartbeat of
    an older worker stays valid. `None` means "not reported" (an older worker, or a platform
    without the measure).
    """

    type: Literal["heartbeat"] = "heartbeat"
    running: list[str] = Field(default_factory=list, description="Runs whose executor has not ended")
    executor_limit: int | None = Field(default=None, ge=0, description="Runs executed at once at most")
    draining: bool = Field(default=False, description="The worker takes no new run and stops once its runs are done")
    disk_free_bytes: int | None = Field(default=None, ge=0, description="Free bytes on the disk of the worker's home")
    load_average: list[float] | None = Field(default=None, max_length=3, description="1, 5 and 15 minute load")
    log_sizes: dict[str, Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict, description="Log bytes written on the worker's disk, by run it holds (not cleaned yet)"
    )
    steps: dict[str, Annotated[list[RunStep], Field(max_length=HEARTBEAT_STEPS)]] = Field(
        default_factory=dict,
        description="By running run: its steps new or changed since the master heard of them, when no log chunk "
        f"brought them (a command that prints nothing); the last {HEARTBEAT_STEPS} at most",
    )


MasterMessage = Annotated[
    Describe | Execute | Abort | ListRuns | GetRequest | Resync | Upload | Clean | Response | ErrorMessage,
    Field(discriminator="type"),
]
WorkerMessage = Annotated[StatusUpdate | Heartbeat | Response | ErrorMessage, Field(discriminator="type")]

master_message_adapter: TypeAdapter[MasterMessage] = TypeAdapter(MasterMessage)
worker_message_adapter: TypeAdapter[WorkerMessage] = TypeAdapter(WorkerMessage)

DescribeResult = WorkerDescription
"""Result of `describe`."""


class LogChunk(Model):
    """Header of a binary frame: `data` starts at byte `offset` of the run's log, or of the
    artifact named `artifact` (sent only when the master asked with `upload`).

    `steps` rides along on a log frame when the run's steps changed since the last one: the steps
    that are new or changed (by `index`), so a running run's steps reach the master with its log
    and cost no message of their own.
    """

    run_id: str
    offset: int = Field(ge=0)
    artifact: str | None = None
    steps: Steps = Field(default_factory=list)


def encode_log_chunk(
    run_id: str, offset: int, data: bytes, artifact: str | None = None, steps: Sequence[RunStep] = ()
) -> bytes:
    """Encode a log (or artifact) chunk as one binary websocket frame: JSON header, newline, raw bytes."""
    fields: dict[str, Any] = {"run_id": run_id, "offset": offset}
    if artifact is not None:
        fields["artifact"] = artifact
    if steps:
        fields["steps"] = [step.model_dump(mode="json") for step in steps]
    header = json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()
    return header + b"\n" + data


def decode_log_chunk(frame: bytes) -> tuple[LogChunk, bytes]:
    """Split a binary frame into its validated header and its data.

    Raises:
        ValueError: the frame has no header line or the header is invalid.
    """
    end = frame.find(b"\n")
    if end < 0:
        raise ValueError("binary frame without a header line")
    return LogChunk.model_validate_json(frame[:end]), frame[end + 1 :]
