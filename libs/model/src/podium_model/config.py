"""The configuration file: projects, jobs and schedules as code (docs/concepts.md, Configuration as code).

`parse_configuration` reads YAML or JSON text and validates it, `read_configuration` a file;
the api, the master's `--config` and `podium-admin apply` all go through them. Errors name the
file, the line and the field, so a typo is found without reading a traceback.

YAML aliases are allowed (anchors keep shared definitions short) but counted at their expanded
size, which may not exceed `CONFIGURATION_BYTES`: the document is composed into nodes (an
alias is a reference to the same node, so this is cheap), the expanded size is summed with one
visit per distinct node, and only a document within the limit is turned into Python objects.
A "billion laughs" document is thus refused before anything grows.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from podium_model._base import Model, Slug
from podium_model.access import ProjectAccess
from podium_model.jobs import CommandsDefinition, JobBase, JobParameter, PipelineDefinition, check_concurrency_key
from podium_model.limits import (
    CONFIGURATION_BYTES,
    JOB_DEFINITION_BYTES,
    PROJECT_NOTIFICATIONS,
    check_parameters,
    json_size,
)
from podium_model.notifications import Notification
from podium_model.parameters import resolve
from podium_model.schedules import ScheduleBase, check_expression
from podium_templates import Field as TemplateField
from podium_templates import TemplateError, parse

RESERVED_SECRET_PREFIX = "PODIUM_"
"""Secret names a job cannot use: the run's own variables (PODIUM_RUN_ID, PODIUM_PARAM_*, ...)
are set after the secrets, so a secret of such a name would never reach the commands."""

RUN_KEYS = frozenset({"id", "project", "job"})
"""What ``{run.KEY}`` may read (the executor's context)."""

ConfigurationFormat = Literal["yaml", "json"]


class JobConfig(JobBase):
    """A job in the configuration file."""

    @model_validator(mode="after")
    def _within_limits(self) -> JobConfig:
        size = json_size(self.definition.model_dump(mode="json"))
        if size > JOB_DEFINITION_BYTES:
            raise ValueError(
                f"the definition of job {self.id!r} is {size} bytes as JSON: "
                f"over the job definition limit of {JOB_DEFINITION_BYTES} bytes"
            )
        check_parameters({p.key: p.default for p in self.parameters if p.default is not None}, "parameter defaults")
        declared = {p.key for p in self.parameters}
        for trigger in self.triggers:
            for key in trigger.parameters:
                if key not in declared:
                    raise ValueError(f"trigger {trigger.id!r} of job {self.id!r} sets undeclared parameter {key!r}")
        concurrency = getattr(self.definition, "concurrency", None)
        if concurrency is not None and concurrency.key is not None:
            # A secret's value would show in the run's key, answered to anyone reading the run.
            check_concurrency_key(concurrency.key, {p.key for p in self.parameters if not p.secret})
        return self


class ScheduleConfig(ScheduleBase):
    """A schedule in the configuration file."""

    @field_validator("parameters")
    @classmethod
    def _within_limits(cls, value: dict[str, str]) -> dict[str, str]:
        check_parameters(value)
        return value

    @field_validator("expression")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        check_expression(value)
        return value


class ProjectConfig(Model):
    """A project in the configuration file, with its jobs and schedules."""

    id: Slug
    display_name: str = Field(default="", max_length=200)
    services: dict[str, Any] = Field(default_factory=dict)
    jobs: list[JobConfig] = Field(default_factory=list)
    schedules: list[ScheduleConfig] = Field(default_factory=list)
    access: ProjectAccess | None = Field(
        default=None,
        description="Who may do what in the project; when given, the project's grants become exactly these",
    )
    notifications: list[Notification] = Field(
        default_factory=list,
        max_length=PROJECT_NOTIFICATIONS,
        description="Webhooks out: URLs POSTed, signed, when the project's runs end",
    )

    @model_validator(mode="after")
    def _check_references(self) -> ProjectConfig:
        job_ids = [job.id for job in self.jobs]
        _no_duplicates(job_ids, "job")
        _no_duplicates([s.id for s in self.schedules], "schedule")
        _no_duplicates([t.id for job in self.jobs for t in job.triggers], "trigger")
        known = set(job_ids)
        for schedule in self.schedules:
            if schedule.job not in known:
                raise ValueError(f"schedule {schedule.id!r} names unknown job {schedule.job!r}")
        for job in self.jobs:
            if isinstance(job.definition, PipelineDefinition):
                _check_pipeline(job.id, job.definition, known)
        for index, notification in enumerate(self.notifications):
            for name in notification.jobs:
                if name not in known:
                    raise ValueError(f"notification {index} ({notification.url}) names unknown job {name!r}")
        return self


class Configuration(Model):
    """The whole configuration file."""

    projects: list[ProjectConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_projects(self) -> Configuration:
        _no_duplicates([p.id for p in self.projects], "project")
        return self


def _no_duplicates(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValueError(f"{what} {item!r} is defined twice")
        seen.add(item)


def _check_pipeline(job_id: str, definition: PipelineDefinition, jobs: set[str]) -> None:
    elements = {e.id: e for e in definition.elements}
    _no_duplicates([e.id for e in definition.elements], f"element of pipeline {job_id!r}:")
    for element in definition.elements:
        if element.job not in jobs:
            raise ValueError(f"pipeline {job_id!r} element {element.id!r} names unknown job {element.job!r}")
        if element.job == job_id:
            raise ValueError(f"pipeline {job_id!r} element {element.id!r} runs the pipeline itself")
        for condition in element.after:
            if condition.element not in elements:
                raise ValueError(
                    f"pipeline {job_id!r} element {element.id!r} waits on unknown element {condition.element!r}"
                )
    # Depth-first search for a cycle in the `after` graph.
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = " -> ".join([*path[path.index(name) :], name])
            raise ValueError(f"pipeline {job_id!r} has a cycle: {cycle}")
        state[name] = 1
        for condition in elements[name].after:
            visit(condition.element, [*path, name])
        state[name] = 2

    for name in elements:
        visit(name, [])


class Change(Model):
    """One change that applying a configuration makes (or would make, in a dry run)."""

    action: Literal["create", "update", "delete"]
    kind: Literal["project", "job", "schedule", "grant"]
    project: str
    id: str

    def describe(self) -> str:
        """One line for people, e.g. `create job examples/hello` or `delete grant examples/user:ann`."""
        return f"{self.action} {self.kind} {self.project}" + ("" if self.kind == "project" else f"/{self.id}")


class ConfigurationError(ValueError):
    """The configuration file is invalid; `problems` lists each mistake with its place."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}:{p}" for p in problems))


class ConfigurationTooLarge(ConfigurationError):
    """The document, as sent or once its YAML aliases are expanded, exceeds `CONFIGURATION_BYTES`."""

    def __init__(self, source: str, size: int, expanded: bool) -> None:
        self.size = size
        what = "expands (YAML aliases) to" if expanded else "is"
        super().__init__(
            source, [f"the document {what} {size} bytes: over the configuration limit of {CONFIGURATION_BYTES} bytes"]
        )


def configuration_format(path: Path) -> ConfigurationFormat:
    """How a configuration file is parsed: JSON for `.json`, YAML otherwise."""
    return "json" if path.suffix.lower() == ".json" else "yaml"


def read_configuration(path: Path) -> Configuration:
    """Read, parse and validate a configuration file, refusing one over the size limit unread.

    Raises:
        OSError: the file cannot be read.
        ConfigurationError: as for `parse_configuration`.
    """
    size = path.stat().st_size
    if size > CONFIGURATION_BYTES:
        raise ConfigurationTooLarge(str(path), size, expanded=False)
    return parse_configuration(path.read_bytes(), str(path), configuration_format(path))


def parse_configuration(
    text: str | bytes, source: str = "<configuration>", format: ConfigurationFormat = "yaml"
) -> Configuration:
    """Parse and validate a configuration given as YAML or JSON text.

    Args:
        text: the document.
        source: its name in error messages (a path, or "body").
        format: `json` parses with a JSON parser (a JSON document means what JSON says, not what
            YAML reads into it); `yaml` with PyYAML's safe loader, aliases counted expanded.

    Raises:
        ConfigurationTooLarge: the document exceeds `CONFIGURATION_BYTES`, as sent or expanded.
        ConfigurationError: the text is not YAML/JSON or does not match the schema; each
            problem reads `FILE:LINE: field.path: message`.
    """
    raw = text.encode() if isinstance(text, str) else text
    if len(raw) > CONFIGURATION_BYTES:
        raise ConfigurationTooLarge(source, len(raw), expanded=False)
    decoded = raw.decode("utf-8", errors="replace")
    try:
        if format == "json":
            return validate_configuration(_load_json(decoded, source), source)
        node, data = _load_yaml(decoded, source)
        return validate_configuration(data if data is not None else {}, source, node)
    except RecursionError:
        raise ConfigurationError(source, ["the document is nested too deeply"]) from None


def _load_json(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(source, [f"{exc.lineno}: not valid JSON: {exc.msg}"]) from None


def _load_yaml(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        size = _expanded_size(node)
        if size > CONFIGURATION_BYTES:
            raise ConfigurationTooLarge(source, size, expanded=True)
        return node, loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"{mark.line + 1}: " if mark is not None else ""
        raise ConfigurationError(source, [f"{line}not valid YAML: {exc}"]) from None
    finally:
        loader.dispose()


def _expanded_size(root: yaml.Node) -> int:
    """The document's size with every alias written out: scalar lengths plus 2 per node.

    An alias is the very node it names, so each distinct node is measured once and its size
    reused wherever it appears; the walk costs the document's size, not the expansion's.
    """
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        total = 2
        if isinstance(node, yaml.ScalarNode):
            total += len(node.value)
        elif isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(key) + size(value) for key, value in node.value)
        sizes[id(node)] = total
        return total

    return size(root)


def validate_configuration(data: Any, source: str = "<configuration>", node: Any = None) -> Configuration:
    """Validate already-parsed configuration data (from JSON or YAML).

    Raises:
        ConfigurationError: as for `parse_configuration`.
    """
    try:
        configuration = Configuration.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            # Drop the discriminator tag pydantic puts after `definition`.
            loc = [p for i, p in enumerate(error["loc"]) if not (i and error["loc"][i - 1] == "definition")]
            field = ".".join(str(part) for part in loc) or "(top)"
            line = _line_of(node, loc)
            where = f"{line}: " if line is not None else ""
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{where}{field}: {message}")
        raise ConfigurationError(source, problems) from None
    mistakes = check_configuration(configuration)
    if mistakes:
        problems = []
        for loc, message in mistakes:
            line = _line_of(node, loc)
            where = f"{line}: " if line is not None else ""
            problems.append(f"{where}{'.'.join(str(part) for part in loc)}: {message}")
        raise ConfigurationError(source, problems)
    return configuration


Location = list[str | int]


def check_configuration(configuration: Configuration) -> list[tuple[Location, str]]:
    """The mistakes across a configuration's parts that each part alone cannot see, with their place.

    - a template (a command argument, an environment value) that does not parse (an unbalanced
      brace, a namespace that does not exist) or reads a parameter its job does not declare, or
      a ``{run.KEY}`` other than id, project and job;
    - a job secret no run could receive (a ``PODIUM_`` name: the run's own variables win), or one
      named twice; a parameter declared twice;
    - a schedule or pipeline element that gives a parameter its job does not declare, lacks a
      required one, or gives a value not of its type (`podium_model.parameters.resolve`; a
      pipeline passes its own parameters down, so a child's required parameter may come from
      the pipeline's declaration). Given values are put in canonical form (``"007"`` → ``"7"``).
    """
    mistakes: list[tuple[Location, str]] = []
    for p, project in enumerate(configuration.projects):
        jobs = {job.id: job for job in project.jobs}
        for j, job in enumerate(project.jobs):
            at: Location = ["projects", p, "jobs", j]
            mistakes += _check_job(job, at)
            if isinstance(job.definition, PipelineDefinition):
                own = {parameter.key for parameter in job.parameters}
                for e, element in enumerate(job.definition.elements):
                    target = jobs.get(element.job)
                    if target is None:
                        continue  # refused already (unknown job)
                    where: Location = [*at, "definition", "elements", e, "parameters"]
                    element.parameters = _check_given(
                        target.parameters, element.parameters, element.job, where, mistakes, passed=own
                    )
        for s, schedule in enumerate(project.schedules):
            target = jobs.get(schedule.job)
            if target is not None:
                where = ["projects", p, "schedules", s, "parameters"]
                schedule.parameters = _check_given(target.parameters, schedule.parameters, target.id, where, mistakes)
    return mistakes


def _check_given(
    declared: list[JobParameter],
    given: dict[str, str],
    job: str,
    where: Location,
    mistakes: list[tuple[Location, str]],
    passed: Collection[str] = (),
) -> dict[str, str]:
    """Check `given` against `declared`, appending the mistakes; `given` in canonical form.

    A required parameter missing from `given` is no mistake when its key is `passed` down (a
    pipeline's own parameters reach its child runs; their values are checked when triggered).
    """
    values, problems = resolve(declared, given, job)
    bad = set()
    for problem in problems:
        if problem.kind == "missing" and problem.key in passed and problem.key not in given:
            continue
        bad.add(problem.key)
        mistakes.append(([*where, problem.key] if problem.key in given else where, problem.message))
    return {key: value if key in bad else values.get(key, value) for key, value in given.items()}


def _check_job(job: JobConfig, at: Location) -> list[tuple[Location, str]]:
    mistakes: list[tuple[Location, str]] = []
    keys = [parameter.key for parameter in job.parameters]
    for index, key in enumerate(keys):
        if key in keys[:index]:
            mistakes.append(([*at, "parameters", index, "key"], f"parameter {key!r} is declared twice"))
    definition = job.definition
    if not isinstance(definition, CommandsDefinition):
        return mistakes
    declared = set(keys)
    templates: list[tuple[Location, str]] = [
        ([*at, "definition", "commands", c, a], argument)
        for c, command in enumerate(definition.commands)
        for a, argument in enumerate(command)
    ]
    templates += [([*at, "definition", "environment", name], value) for name, value in definition.environment.items()]
    for loc, template in templates:
        problem = _template_problem(template, declared)
        if problem is not None:
            mistakes.append((loc, problem))
    for index, name in enumerate(definition.secrets):
        if name.startswith(RESERVED_SECRET_PREFIX):
            message = (
                f"secret {name!r} cannot exist: {RESERVED_SECRET_PREFIX}* variables are the run's own "
                "and would hide it from the commands"
            )
            mistakes.append(([*at, "definition", "secrets", index], message))
        elif name in definition.secrets[:index]:
            mistakes.append(([*at, "definition", "secrets", index], f"secret {name!r} is named twice"))
    return mistakes


def _template_problem(template: str, declared: set[str]) -> str | None:
    """Why `template` would fail at run time whatever the trigger gives, or None."""
    if "{" not in template and "}" not in template:
        return None  # most arguments: nothing to parse
    try:
        segments = parse(template)
    except TemplateError as exc:
        return f"template error: {exc}"
    for segment in segments:
        if not isinstance(segment, TemplateField):
            continue
        if segment.namespace == "parameters" and segment.key not in declared:
            return f"template {{parameters.{segment.key}}} names a parameter the job does not declare"
        if segment.namespace == "run" and segment.key not in RUN_KEYS:
            return f"template {{run.{segment.key}}} reads nothing (run.id, run.project and run.job exist)"
    return None


def _line_of(node: Any, loc: list[str | int]) -> int | None:
    """Find the 1-based line of the deepest YAML node that `loc` reaches."""
    if node is None:
        return None
    line: int = node.start_mark.line + 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key, value in node.value:
                if key.value == part:
                    child = value
                    line = key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


def configuration_schema() -> dict[str, Any]:
    """The JSON schema of the configuration file, generated from the models."""
    schema = Configuration.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Podium configuration"
    return schema


def dump_schema() -> str:
    """The configuration JSON schema as indented text."""
    return json.dumps(configuration_schema(), indent=2)
