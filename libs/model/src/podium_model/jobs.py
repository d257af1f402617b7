"""Jobs and their definitions (docs/concepts.md, Configuration as code)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from podium_model._base import Model, Slug, UtcDatetime
from podium_model.artifacts import ArtifactPattern
from podium_model.limits import ARTIFACT_PATTERNS, JOB_SECRETS, JOB_TRIGGERS
from podium_model.parameters import CHOICES, PATTERN_CHARS, ParameterType, check_value
from podium_model.runs import RunStatus
from podium_model.secrets import SecretName
from podium_templates import PAYLOAD_NAMESPACES, TemplateError, parse


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


class Job(JobBase):
    """A job as stored and as answered by the API."""

    project: Slug
    is_enabled: bool = True
    created_at: UtcDatetime
    updated_at: UtcDatetime
