"""Runs: one execution of a job, and its lifecycle."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

from pydantic import Field, field_validator

from podium_model._base import Model, Slug, UtcDatetime
from podium_model.limits import PRIORITY_MAX, PRIORITY_MIN, STEP_ARGV_BYTES, STEPS, check_parameters
from podium_model.parameters import masked
from podium_model.retries import RetryPolicy


class RunStatus(StrEnum):
    """Where a run is in its lifecycle (docs/concepts.md, Run lifecycle)."""

    pending = "pending"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    aborted = "aborted"
    exception = "exception"
    cancelled = "cancelled"

    @property
    def is_final(self) -> bool:
        """True once the run can never change status again."""
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset(
    {RunStatus.succeeded, RunStatus.failed, RunStatus.aborted, RunStatus.exception, RunStatus.cancelled}
)


class RunSource(Model):
    """What started a run."""

    type: Literal["api", "schedule", "pipeline", "user", "webhook", "rerun", "retry"] = "api"
    user: str | None = Field(default=None, description="The user whose credentials triggered the run")
    schedule: str | None = Field(default=None, description="The schedule that fired (type schedule)")
    run: str | None = Field(
        default=None,
        description="The parent or controller run (type pipeline, or a controller); the run run again "
        "(type rerun) or the attempt retried (type retry)",
    )
    element: str | None = Field(default=None, description="The pipeline element this run executes")
    trigger: str | None = Field(default=None, description="The webhook trigger that was called (type webhook)")


Parameters = dict[str, str]


class RunTrigger(Model):
    """Body of `POST /api/v1/projects/{project}/jobs/{job}/runs`."""

    parameters: Parameters = Field(default_factory=dict, max_length=100)
    priority: int | None = Field(
        default=None, ge=PRIORITY_MIN, le=PRIORITY_MAX, description="This run's priority; default: the job's"
    )

    @field_validator("parameters")
    @classmethod
    def _within_limits(cls, value: Parameters) -> Parameters:
        check_parameters(value)
        return value


class PipelineNode(Model):
    """One element of a pipeline run: its child run once started, and where it stands."""

    element: Slug
    job: Slug
    after: list[str] = Field(default_factory=list, description="The elements this one waits on")
    run: str | None = Field(default=None, description="The element's child run, once created")
    status: RunStatus | None = Field(
        default=None, description="The child run's status; `cancelled` without a run when skipped; None: waiting"
    )
    ready: bool = Field(default=False, description="Every condition holds but the child run is not created yet")
    reason: str | None = Field(default=None, description="Why the element was skipped, or its run's reason")


class PipelineGraph(Model):
    """The elements of a pipeline run in definition order (the UI draws it)."""

    nodes: list[PipelineNode] = Field(default_factory=list)


class RunStep(Model):
    """One command of a run as the executor ran it (docs/jobs.md, Steps)."""

    index: int = Field(ge=1, le=STEPS, description="The command's number in the job's `commands`, from 1")
    argv: list[str] = Field(
        max_length=STEP_ARGV_BYTES,
        description=f"The argv as rendered, secrets masked as in the log; at most {STEP_ARGV_BYTES} bytes "
        "together, the rest cut",
    )
    started_at: UtcDatetime
    completed_at: UtcDatetime | None = Field(default=None, description="None while the command runs")
    exit_code: int | None = Field(
        default=None,
        description="The command's exit code, minus the signal number when a signal killed it; "
        "None while it runs or when it could not start",
    )
    log_offset: int = Field(ge=0, description="Byte offset in the run's log where the command's output begins")


Steps = Annotated[list[RunStep], Field(max_length=STEPS)]


class Run(Model):
    """A run as stored and as answered by the API."""

    project: Slug
    id: str
    job: Slug
    parameters: Parameters = Field(
        default_factory=dict, description="Values as strings; a secret parameter's as [masked] in every answer"
    )
    secret_parameters: list[str] = Field(
        default_factory=list,
        description="The keys of `parameters` declared secret when the run was created: answered as [masked]",
    )
    source: RunSource = Field(default_factory=RunSource)
    worker: str | None = None
    status: RunStatus = RunStatus.pending
    reason: str | None = Field(default=None, description="Why the run ended as it did, when not obvious")
    waiting_reason: str | None = Field(default=None, description="Why a pending run is still waiting")
    created_at: UtcDatetime
    assigned_at: UtcDatetime | None = None
    started_at: UtcDatetime | None = None
    completed_at: UtcDatetime | None = None
    results: dict[str, Any] = Field(default_factory=dict)
    should_cancel: bool = False
    should_abort: bool = False
    image: str | None = Field(
        default=None, max_length=255, description="The image the run's commands ran in, once its container started"
    )
    image_digest: str | None = Field(
        default=None,
        max_length=400,
        description="The image as the engine had it: `name@sha256:...` when pulled from a registry, else its id",
    )
    priority: int = Field(default=0, description="Pending runs of higher priority are dispatched first")
    concurrency_key: str | None = Field(
        default=None, description="The key whose concurrency limit the run counts against (its job's limit)"
    )
    updated_at: UtcDatetime
    steps: Steps | None = Field(
        default_factory=list,
        description="The commands run so far, in order; None in a page of runs (GET .../runs/{run} has them)",
    )
    truncated_parameters: list[str] | None = Field(
        default=None,
        description="In a page of runs only: the parameters whose values are cut there to 1 KiB; "
        "GET .../runs/{run} answers them whole",
    )
    attempt: int = Field(default=1, ge=1, description="Which attempt of a retried run this is: 1 for the first")
    not_before: UtcDatetime | None = Field(
        default=None, description="A retry waits pending until this instant (its delay) before a worker may take it"
    )
    retried_by: str | None = Field(default=None, description="The next attempt, once this one ended and was retried")
    retry: RetryPolicy | None = Field(
        default=None, description="The job's retry policy as it stood when a worker took this run (None: no retry)"
    )


RunT = TypeVar("RunT", bound=Run)


def masked_run(run: RunT) -> RunT:
    """`run` as the API answers it: the values of its secret parameters replaced by [masked]."""
    if not run.secret_parameters:
        return run  # most runs: no copy
    return run.model_copy(update={"parameters": masked(run.parameters, run.secret_parameters)})


class RunDetail(Run):
    """A run as `GET .../runs/{run}` answers it: with its graph when it is a pipeline run."""

    pipeline: PipelineGraph | None = Field(default=None, description="Pipeline runs only: the elements' graph")


class RunUpdate(Model):
    """Changes to a run's fields other than its status; only the fields set are written."""

    worker: str | None = None
    reason: str | None = None
    waiting_reason: str | None = None
    assigned_at: UtcDatetime | None = None
    started_at: UtcDatetime | None = None
    completed_at: UtcDatetime | None = None
    results: dict[str, Any] | None = None
    should_cancel: bool | None = None
    should_abort: bool | None = None
    image: str | None = None
    image_digest: str | None = None
    retry: RetryPolicy | None = None
    steps: Steps | None = None


class RunFilter(Model):
    """Filters of a run listing; all optional and combined with AND."""

    project: str | None = None
    job: str | None = None
    status: list[RunStatus] | None = None
    worker: str | None = None
    source: str | None = None
    created_after: UtcDatetime | None = None
    created_before: UtcDatetime | None = None
    completed_before: UtcDatetime | None = Field(
        default=None, description="Only runs that completed before this instant (runs not completed never match)"
    )
