"""Jobs and their definitions (docs/concepts.md, Configuration as code)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Mapping
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from podium_model._base import Model, Slug, UtcDatetime
from podium_model.artifacts import ArtifactPattern
from podium_model.limits import (
    ARTIFACT_PATTERNS,
    CONCURRENCY_KEY_CHARS,
    CONCURRENCY_LIMIT,
    CONTAINER_CPUS,
    CONTAINER_MEMORY_MAX,
    CONTAINER_MEMORY_MIN,
    JOB_SECRETS,
    JOB_TRIGGERS,
    PRIORITY_MAX,
    PRIORITY_MIN,
)
from podium_model.parameters import CHOICES, PATTERN_CHARS, ParameterType, check_value
from podium_model.retries import RetryPolicy
from podium_model.runs import RunStatus
from podium_model.secrets import SecretName
from podium_templates import PAYLOAD_NAMESPACES, TemplateError, parse, render
from podium_templates import Field as TemplateField


class JobParameter(Model):
    """A parameter a job declares; triggers are validated against these."""

    key: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
    description: str = Field(default="", max_length=1000)
    type: ParameterType = Field(default="string", description="What a value must be; values stay strings")
    default: str | None = None
    required: bool = False
    choices: list[Annotated[str, Field(max_length=1000)]] = Field(
        default_factory=list, max_length=CHOICES, description="The values a `choice` parameter may take"
    )
    pattern: str | None = Field(
        default=None,
        max_length=PATTERN_CHARS,
        description="A regular expression (Python syntax) a `string` value must match as a whole",
    )
    secret: bool = Field(
        default=False,
        description="The value is answered as [masked] once triggered and masked in the log; it has no default",
    )

    @model_validator(mode="after")
    def _consistent(self) -> JobParameter:
        if self.type == "choice" and not self.choices:
            raise ValueError(f"parameter {self.key!r} is a choice: it needs `choices`")
        if self.choices and self.type != "choice":
            raise ValueError(f"parameter {self.key!r}: only a choice parameter has `choices`")
        if len(set(self.choices)) != len(self.choices):
            raise ValueError(f"parameter {self.key!r}: a choice is listed twice")
        if self.pattern is not None:
            if self.type != "string":
                raise ValueError(f"parameter {self.key!r}: only a string parameter has a `pattern`")
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"parameter {self.key!r}: `pattern` is not a regular expression: {exc}") from None
        if self.secret and self.default is not None:
            # Anyone who may read the project reads a job's declaration, defaults included.
            raise ValueError(f"secret parameter {self.key!r} cannot have a default (jobs are readable)")
        if self.default:
            try:
                self.default = check_value(self, self.default)
            except ValueError as exc:
                raise ValueError(f"the default of parameter {self.key!r} ({self.type}): {exc}") from None
        return self


Command = Annotated[list[Annotated[str, Field(max_length=100_000)]], Field(min_length=1, max_length=1000)]
"""An argv list, executed without a shell; each argument may hold templates."""


IMAGE_PATTERN = (
    r"^(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?"  # a registry (host, port) or a first path component
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"  # the repository
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"  # the tag (none: latest)
    r"(?:@sha256:[a-f0-9]{64})?$"  # a digest pins the image whatever its tag says
)
"""An image reference as the Docker engine reads it: `name:tag`, `registry:5000/path/name:tag`, `name@sha256:...`."""

ImageReference = Annotated[str, Field(pattern=IMAGE_PATTERN, max_length=255)]

MEMORY_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def memory_bytes(text: str) -> int:
    """The bytes of a memory limit written `512m`, `2g`, `65536k` or a plain number of bytes.

    Raises:
        ValueError: not a number with one of the units b, k, m, g.
    """
    value = text.strip().lower()
    unit = value[-1:] if value[-1:].isalpha() else ""
    number = value[: len(value) - len(unit)]
    if unit not in MEMORY_UNITS or not number.isdecimal():
        raise ValueError(f"memory {text!r} is not a number of bytes with an optional unit b, k, m or g (512m, 2g)")
    return int(number) * MEMORY_UNITS[unit]


class ContainerSettings(Model):
    """How the container of a job with an image is made (docs/jobs.md, Jobs in containers)."""

    user: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]+(?::[A-Za-z0-9_.-]+)?$",
        description="The user (name or uid, optionally :group) the commands run as; None: the image's user",
    )
    workdir: str | None = Field(
        default=None,
        max_length=4096,
        pattern=r"^/",
        description="The absolute directory the commands start in; None: the run's workspace, mounted at "
        "/podium/workspace (mounted there in any case)",
    )
    network: Literal["none", "bridge"] = Field(
        default="bridge", description="`none`: loopback only; `bridge`: the engine's default network"
    )
    cpus: float | None = Field(
        default=None, gt=0, le=CONTAINER_CPUS, description="CPUs the container may use at most (1.5: one and a half)"
    )
    memory: str | None = Field(
        default=None, max_length=32, description="Memory the container may use at most: 512m, 2g (units b, k, m, g)"
    )
    pull: Literal["never", "missing", "always"] = Field(
        default="missing",
        description="`missing`: pull the image when the engine lacks it; `always`: pull before every run; "
        "`never`: use only what the engine has",
    )

    @model_validator(mode="after")
    def _memory_within_limits(self) -> ContainerSettings:
        if self.memory is not None:
            size = memory_bytes(self.memory)
            if not CONTAINER_MEMORY_MIN <= size <= CONTAINER_MEMORY_MAX:
                raise ValueError(
                    f"memory {self.memory!r} is outside {CONTAINER_MEMORY_MIN >> 20} MiB to "
                    f"{CONTAINER_MEMORY_MAX >> 30} GiB"
                )
        return self


OnFull = Literal["queue", "cancel_new", "cancel_old"]
"""What a new run does when its concurrency key is full: wait, be cancelled, or abort the oldest holder."""


class Concurrency(Model):
    """At most `limit` runs holding the same key run at once, within a project (docs/jobs.md, Concurrency)."""

    limit: int = Field(ge=1, le=CONCURRENCY_LIMIT, description="Runs of the key that may run at once")
    key: str | None = Field(
        default=None,
        min_length=1,
        max_length=CONCURRENCY_KEY_CHARS,
        description="A template of the run's parameters (`deploy-{parameters.env}`), rendered when the run "
        "is triggered; jobs naming the same key share its limit. Default: the job's id",
    )
    on_full: OnFull = Field(
        default="queue",
        description="When the key is full: queue (wait), cancel_new (cancel the new run), "
        "cancel_old (abort the oldest running run of the key, then start)",
    )


KEY_RUN_FIELDS = frozenset({"project", "job"})
"""What a concurrency key may read of the run besides its parameters (its id is not known yet)."""


def check_concurrency_key(template: str, parameters: Collection[str]) -> None:
    """Refuse a key template that reads anything but a declared parameter, `run.project` or `run.job`.

    Raises:
        TemplateError: naming the template and what it may read.
    """
    for segment in parse(template):
        if not isinstance(segment, TemplateField):
            continue
        if segment.filter is not None:
            raise TemplateError(f"concurrency key {template!r}: a key takes no filter")
        if segment.namespace == "parameters" and segment.key in parameters:
            continue
        if segment.namespace == "run" and segment.key in KEY_RUN_FIELDS:
            continue
        raise TemplateError(
            f"concurrency key {template!r} reads {segment.namespace}.{segment.key}: "
            "a key may read only the job's declared parameters (not a secret one), run.project and run.job"
        )


class CommandsDefinition(Model):
    """A job that runs argv commands one after another on a worker."""

    type: Literal["job"] = "job"
    commands: list[Command] = Field(min_length=1, max_length=1000)
    timeout: int | None = Field(default=None, gt=0, description="Seconds the whole run may take before it is aborted")
    environment: dict[str, str] = Field(default_factory=dict, description="Extra environment variables (templates)")
    secrets: list[SecretName] = Field(
        default_factory=list,
        max_length=JOB_SECRETS,
        description="Project secrets given to the commands as environment variables of the same name, masked "
        "in the log; applying a configuration naming a secret the project lacks is refused",
    )
    artifacts: list[ArtifactPattern] = Field(
        default_factory=list,
        max_length=ARTIFACT_PATTERNS,
        description="Globs relative to the workspace; the files they match after the last command are kept "
        "with the run (docs/jobs.md, Artifacts)",
    )
    concurrency: Concurrency | None = Field(
        default=None, description="Limit the runs that run at once (per key); None: no limit"
    )
    retry: RetryPolicy | None = Field(
        default=None, description="Run again after a failure: attempts, on which statuses, delay and backoff"
    )

    image: ImageReference | None = Field(
        default=None,
        description="Run the commands in a container of this image (`name:tag`) on a worker started with "
        "--containers; None: on the worker host",
    )
    container: ContainerSettings | None = Field(
        default=None, description="How the container is made (needs `image`); None: the defaults"
    )

    @model_validator(mode="after")
    def _container_needs_image(self) -> CommandsDefinition:
        if self.container is not None and self.image is None:
            raise ValueError("definition.container needs definition.image (the image the container runs)")
        return self


class AfterCondition(Model):
    """An element starts only once `element` has ended in one of `status`."""

    element: Slug
    status: list[RunStatus] = Field(default_factory=lambda: [RunStatus.succeeded], min_length=1)


class PipelineElement(Model):
    """One element of a pipeline: a child run of another job."""

    id: Slug
    job: Slug
    parameters: dict[str, str] = Field(default_factory=dict)
    after: list[AfterCondition] = Field(default_factory=list)


class PipelineDefinition(Model):
    """A job whose elements run as child runs, ordered by their `after` conditions."""

    type: Literal["pipeline"] = "pipeline"
    elements: list[PipelineElement] = Field(min_length=1, max_length=1000)


JobDefinition = Annotated[CommandsDefinition | PipelineDefinition, Field(discriminator="type")]


class WebhookTrigger(Model):
    """`POST /api/v1/hooks/{project}/{id}` starts a run of the job (docs/jobs.md, Webhooks).

    The request is accepted when it is signed with the secret (GitHub's `X-Hub-Signature-256`)
    or carries it as `Authorization: Bearer`; `parameters` map fields of its JSON body to the
    run's parameters, and the body is the run's `PODIUM_PAYLOAD` file.
    """

    type: Literal["webhook"] = "webhook"
    id: Slug = Field(description="The trigger's id in its URL, unique in the project")
    secret: SecretName = Field(description="The project secret that signs (or is the bearer token of) a request")
    parameters: dict[str, Annotated[str, Field(max_length=1000)]] = Field(
        default_factory=dict,
        max_length=100,
        description="Parameter key → template reading the body, e.g. `{payload.head_commit.id}`",
    )

    @field_validator("parameters")
    @classmethod
    def _templates(cls, value: dict[str, str]) -> dict[str, str]:
        for key, template in value.items():
            try:
                parse(template, PAYLOAD_NAMESPACES)
            except TemplateError as exc:
                raise ValueError(f"parameter {key!r}: {exc}") from None
        return value


class JobBase(Model):
    """What configuration says of a job."""

    id: Slug
    display_name: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=10_000)
    definition: JobDefinition
    parameters: list[JobParameter] = Field(default_factory=list, max_length=100)
    properties: dict[str, str] = Field(default_factory=dict, description="Matched against worker properties")
    triggers: list[WebhookTrigger] = Field(
        default_factory=list, max_length=JOB_TRIGGERS, description="Webhooks that start runs of the job"
    )
    priority: int = Field(
        default=0,
        ge=PRIORITY_MIN,
        le=PRIORITY_MAX,
        description="Runs of higher priority are dispatched first (FIFO within one); a trigger may override it",
    )


class Job(JobBase):
    """A job as stored and as answered by the API."""

    project: Slug
    is_enabled: bool = True
    created_at: UtcDatetime
    updated_at: UtcDatetime


def concurrency_key(job: Job, parameters: Mapping[str, str]) -> str | None:
    """The concurrency key a run of `job` with `parameters` holds; None when the job sets no limit.

    Rendered once, when the run is triggered, and stored on the run: a later change of the job
    does not move a run to another key. Declared parameters a trigger left out read as their
    default (or the empty string), as in the run's commands.
    """
    definition = job.definition
    if not isinstance(definition, CommandsDefinition) or definition.concurrency is None:
        return None
    template = definition.concurrency.key
    if template is None:
        return job.id
    values = {parameter.key: parameter.default or "" for parameter in job.parameters}
    values.update(parameters)
    try:
        key = render(template, {"parameters": values, "run": {"project": job.project, "job": job.id}})
    except TemplateError:  # refused when the configuration is applied; a template is its own key then
        key = template
    if len(key) > CONCURRENCY_KEY_CHARS:
        digest = hashlib.sha256(key.encode()).hexdigest()
        key = f"{key[: CONCURRENCY_KEY_CHARS - len(digest) - 1]}~{digest}"
    return key or job.id
