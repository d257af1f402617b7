"""Tests of apply_configuration: create, update, delete and dry run."""

from __future__ import annotations

import json

import pytest

from podium_model import CommandsDefinition, PipelineDefinition, RunSource
from podium_model.config import Change, ConfigurationError, parse_configuration
from podium_storage import Storage
from podium_storage.configuration import apply_configuration

DEFINITION = {"type": "job", "commands": [["true"]]}

FIRST = """
projects:
  - id: examples
    display_name: Examples
    jobs:
      - id: hello
        parameters: [{key: name, default: world}]
        definition: {type: job, commands: [["echo", "hello {parameters.name}"]]}
      - id: old
        definition: {type: job, commands: [["true"]]}
    schedules:
      - {id: nightly, job: hello, expression: "0 3 * * *"}
      - {id: legacy, job: old, expression: "0 4 * * *"}
"""

SECOND = """
projects:
  - id: examples
    display_name: Examples
    jobs:
      - id: hello
        parameters: [{key: name, default: everyone}]
        definition: {type: job, commands: [["echo", "hello {parameters.name}"]]}
    schedules:
      - {id: nightly, job: hello, expression: "0 3 * * *"}
"""


def described(changes: list[Change]) -> list[str]:
    """The changes as one line each."""
    return [change.describe() for change in changes]


async def test_apply_creates_then_reports_nothing(storage: Storage) -> None:
    """A first apply creates everything; applying the same file again changes nothing."""
    configuration = parse_configuration(FIRST)
    assert described(await apply_configuration(storage, configuration)) == [
        "create project examples",
        "create job examples/hello",
        "create job examples/old",
        "create schedule examples/nightly",
        "create schedule examples/legacy",
    ]
    assert [j.id for j in await storage.list_jobs("examples")] == ["hello", "old"]
    assert await apply_configuration(storage, configuration) == []


async def test_apply_updates_and_removes(storage: Storage) -> None:
    """Jobs and schedules the file no longer names are removed; their runs stay readable."""
    await apply_configuration(storage, parse_configuration(FIRST))
    await storage.set_job_enabled("examples", "hello", False)
    run = await storage.create_run("examples", "old", {}, RunSource())
    changes = await apply_configuration(storage, parse_configuration(SECOND))
    assert described(changes) == [
        "delete schedule examples/legacy",
        "delete job examples/old",
        "update job examples/hello",
    ]
    hello = await storage.get_job("examples", "hello")
    assert hello is not None and hello.parameters[0].default == "everyone" and not hello.is_enabled
    assert await storage.get_job("examples", "old") is None
    assert [s.id for s in await storage.list_schedules("examples")] == ["nightly"]
    assert await storage.get_run(run.id) is not None


async def test_dry_run_reports_without_writing(storage: Storage) -> None:
    """A dry run answers the same changes as the real apply and writes nothing."""
    await apply_configuration(storage, parse_configuration(FIRST))
    before = (await storage.list_jobs(), await storage.list_schedules())
    dry = await apply_configuration(storage, parse_configuration(SECOND), dry_run=True)
    assert (await storage.list_jobs(), await storage.list_schedules()) == before
    assert await apply_configuration(storage, parse_configuration(SECOND)) == dry
    fresh = await apply_configuration(storage, parse_configuration(FIRST.replace("examples", "other")), dry_run=True)
    assert [c.action for c in fresh] == ["create"] * 5
    assert await storage.get_project("other") is None


async def test_projects_not_named_are_left_alone(storage: Storage) -> None:
    """A project the file does not name keeps its jobs."""
    await apply_configuration(storage, parse_configuration(FIRST))
    assert await apply_configuration(storage, parse_configuration("projects: []")) == []
    assert len(await storage.list_jobs("examples")) == 2


async def test_schedule_enabled_state_survives_apply(storage: Storage) -> None:
    """A schedule disabled by an operator stays disabled, and that is not an update."""
    await apply_configuration(storage, parse_configuration(FIRST))
    await storage.set_schedule_enabled("examples", "nightly", False)
    assert await apply_configuration(storage, parse_configuration(FIRST)) == []
    schedule = await storage.get_schedule("examples", "nightly")
    assert schedule is not None and not schedule.is_enabled


ACCESS = """
projects:
  - id: team
    access:
      users: {ann: operator, bob: viewer}
      groups: {devs: maintainer}
"""


async def test_access_makes_the_grants_exactly_those_named(storage: Storage) -> None:
    """`access` creates, updates and revokes grants (dry run first); a project without it keeps its grants."""
    dry = await apply_configuration(storage, parse_configuration(ACCESS), dry_run=True)
    assert described(dry) == [
        "create project team",
        "create grant team/group:devs",
        "create grant team/user:ann",
        "create grant team/user:bob",
    ]
    assert described(await apply_configuration(storage, parse_configuration(ACCESS))) == described(dry)
    assert await apply_configuration(storage, parse_configuration(ACCESS)) == []
    changed = ACCESS.replace("ann: operator, bob: viewer", "ann: maintainer")
    assert described(await apply_configuration(storage, parse_configuration(changed))) == [
        "delete grant team/user:bob",
        "update grant team/user:ann",
    ]
    assert [(g.kind, g.name, g.role.value) for g in await storage.list_grants("team")] == [
        ("group", "devs", "maintainer"),
        ("user", "ann", "maintainer"),
    ]
    assert await apply_configuration(storage, parse_configuration("projects: [{id: team}]")) == []
    assert len(await storage.list_grants("team")) == 2


WITH_SECRETS = """
projects:
  - id: vault
    jobs:
      - id: deploy
        definition: {type: job, secrets: [DEPLOY_KEY, REGISTRY_TOKEN], commands: [["true"]]}
      - id: plain
        definition: {type: job, commands: [["true"]]}
"""


async def test_a_job_naming_a_missing_secret_refuses_the_whole_file(storage: Storage) -> None:
    """Each missing secret is named, nothing is written (dry run too); once set, the file applies."""
    configuration = parse_configuration(WITH_SECRETS, "test")
    for dry_run in (True, False):
        with pytest.raises(ConfigurationError) as refused:
            await apply_configuration(storage, configuration, dry_run=dry_run)
        assert len(refused.value.problems) == 2
        assert "'DEPLOY_KEY' does not exist in project 'vault'" in refused.value.problems[0]
        assert "vault/deploy" in refused.value.problems[0] and "REGISTRY_TOKEN" in refused.value.problems[1]
        assert await storage.list_projects() == []
    await storage.put_project("vault")
    await storage.put_secret("vault", "DEPLOY_KEY", "sealed")
    with pytest.raises(ConfigurationError, match="REGISTRY_TOKEN") as still:
        await apply_configuration(storage, configuration)
    assert len(still.value.problems) == 1
    await storage.put_secret("vault", "REGISTRY_TOKEN", "sealed")
    changes = await apply_configuration(storage, configuration)
    assert described(changes) == ["create job vault/deploy", "create job vault/plain"]
    job = await storage.get_job("vault", "deploy")
    assert job is not None and isinstance(job.definition, CommandsDefinition)
    assert job.definition.secrets == ["DEPLOY_KEY", "REGISTRY_TOKEN"]


@pytest.mark.parametrize("expression", ["61 * * * *", "* * * *", "0 3 * * * *", "every day"])
def test_an_invalid_cron_expression_is_refused_with_its_place(expression: str) -> None:
    """The schedule's line and field are named; the master's rule (5 fields croniter accepts) decides."""
    text = f'projects:\n  - id: p\n    schedules:\n      - id: s\n        job: j\n        expression: "{expression}"\n'
    with pytest.raises(ConfigurationError) as raised:
        parse_configuration(text, "podium.yaml")
    assert "expression" in str(raised.value) and "cron" in str(raised.value)
    assert "podium.yaml:6" in str(raised.value)


@pytest.mark.parametrize(
    ("trigger", "message"),
    [
        ({"id": "push", "secret": "HOOK", "parameters": {"other": "{payload.ref}"}}, "undeclared parameter 'other'"),
        ({"id": "push", "secret": "HOOK", "parameters": {"commit": "{run.id}"}}, "unknown namespace 'run'"),
        ({"id": "push", "secret": "lower", "parameters": {}}, "secret"),
    ],
)
def test_a_bad_trigger_is_refused_naming_it(trigger: dict[str, object], message: str) -> None:
    """A trigger setting an undeclared parameter, reading another namespace, or naming a bad secret."""
    job = {"id": "build", "parameters": [{"key": "commit"}], "triggers": [trigger], "definition": DEFINITION}
    with pytest.raises(ConfigurationError, match=message):
        parse_configuration(json.dumps({"projects": [{"id": "p", "jobs": [job]}]}), format="json")


def test_trigger_ids_are_unique_in_a_project() -> None:
    """The id is the webhook's URL: two jobs of a project cannot both declare it."""
    jobs = [
        {"id": name, "triggers": [{"id": "push", "secret": "HOOK"}], "definition": DEFINITION} for name in ("a", "b")
    ]
    with pytest.raises(ConfigurationError, match="trigger 'push' is defined twice"):
        parse_configuration(json.dumps({"projects": [{"id": "p", "jobs": jobs}]}), format="json")


async def test_apply_refuses_a_trigger_whose_secret_is_missing(storage: Storage) -> None:
    """Like a job's secrets, a trigger's secret must exist before the file is applied."""
    job = {"id": "build", "triggers": [{"id": "push", "secret": "HOOK"}], "definition": DEFINITION}
    configuration = parse_configuration(json.dumps({"projects": [{"id": "p", "jobs": [job]}]}), format="json")
    with pytest.raises(ConfigurationError, match="secret 'HOOK' does not exist"):
        await apply_configuration(storage, configuration)


@pytest.mark.parametrize(
    ("parameter", "says"),
    [
        ('{key: n, type: integer, default: "abc"}', "not an integer"),
        ("{key: n, type: choice}", "needs `choices`"),
        ("{key: n, type: choice, choices: [a, a]}", "listed twice"),
        ('{key: n, type: integer, pattern: "[0-9]+"}', "only a string parameter"),
        ('{key: n, pattern: "("}', "not a regular expression"),
        ("{key: n, secret: true, default: xxxxxxxxxx}", "cannot have a default"),
        ("{key: n, choices: [a]}", "only a choice parameter"),
    ],
)
def test_a_parameter_declaration_that_cannot_hold_is_refused(parameter: str, says: str) -> None:
    """Types, choices, patterns and secrets are checked when the job is applied, naming its line."""
    text = (
        "projects:\n  - id: p\n    jobs:\n      - id: j\n        parameters:\n"
        f"          - {parameter}\n"
        '        definition: {type: job, commands: [["true"]]}\n'
    )
    with pytest.raises(ConfigurationError) as raised:
        parse_configuration(text, "podium.yaml")
    assert says in str(raised.value) and "podium.yaml:6" in str(raised.value), str(raised.value)


def test_given_values_are_stored_in_canonical_form() -> None:
    """A default, a schedule's and an element's integer lose their leading zeros; a boolean its case."""
    text = (
        "projects:\n  - id: p\n    jobs:\n      - id: j\n        parameters:\n"
        '          - {key: n, type: integer, default: "010"}\n'
        "          - {key: b, type: boolean, default: 'TRUE'}\n"
        '        definition: {type: job, commands: [["echo", "{parameters.n} {parameters.b}"]]}\n'
        "      - id: flow\n        parameters: [{key: b}]\n"
        '        definition: {type: pipeline, elements: [{id: e, job: j, parameters: {n: "+3"}}]}\n'
        '    schedules:\n      - {id: s, job: j, expression: "0 3 * * *", parameters: {n: "007"}}\n'
    )
    project = parse_configuration(text, "podium.yaml").projects[0]
    assert [p.default for p in project.jobs[0].parameters] == ["10", "true"]
    assert project.schedules[0].parameters == {"n": "7"}
    definition = project.jobs[1].definition
    assert isinstance(definition, PipelineDefinition) and definition.elements[0].parameters == {"n": "3"}


def test_a_job_with_an_image_is_read_with_its_container_settings() -> None:
    """`image` and `container` are read as written, the container's defaults filled in."""
    text = (
        "projects:\n  - id: p\n    jobs:\n      - id: j\n        definition:\n          type: job\n"
        '          image: "registry.example:5000/team/build:1.2"\n'
        "          container: {user: '1000:1000', network: none, cpus: 1.5, memory: 512m}\n"
        "          commands: [[make]]\n"
    )
    definition = parse_configuration(text, "podium.yaml").projects[0].jobs[0].definition
    assert isinstance(definition, CommandsDefinition) and definition.container is not None
    assert definition.image == "registry.example:5000/team/build:1.2"
    assert (definition.container.user, definition.container.network) == ("1000:1000", "none")
    assert (definition.container.memory, definition.container.pull, definition.container.workdir) == (
        "512m",
        "missing",
        None,
    )


@pytest.mark.parametrize(
    ("definition", "named"),
    [
        ('image: "Debian:12"', "image"),
        ('image: "debian:12"\n          container: {network: host}', "network"),
        ('image: "debian:12"\n          container: {memory: 1m}', "memory"),
        ('image: "debian:12"\n          container: {memory: 2x}', "memory"),
        ('image: "debian:12"\n          container: {cpus: 0}', "cpus"),
        ('image: "debian:12"\n          container: {pull: sometimes}', "pull"),
        ('image: "debian:12"\n          container: {workdir: relative}', "workdir"),
        ("container: {network: none}", "needs definition.image"),
    ],
)
def test_a_bad_image_or_container_is_refused_at_apply(definition: str, named: str) -> None:
    """Apply-time checks name the job's line and the field: nothing reaches a worker to fail there."""
    head = "projects:\n  - id: p\n    jobs:\n      - id: j\n        definition:\n          type: job\n"
    text = f"{head}          {definition}\n          commands: [[make]]\n"
    with pytest.raises(ConfigurationError) as raised:
        parse_configuration(text, "podium.yaml")
    assert named in str(raised.value) and "podium.yaml:" in str(raised.value), str(raised.value)


@pytest.mark.parametrize(
    ("notification", "message"),
    [
        ({"url": "ftp://example.com/x", "events": ["run.failed"], "secret": "HOOK"}, "http:// or https://"),
        ({"url": "https://example.com/x", "events": ["run.started"], "secret": "HOOK"}, "events"),
        ({"url": "https://example.com/x", "events": ["run.failed", "run.failed"], "secret": "HOOK"}, "twice"),
        ({"url": "https://example.com/x", "events": [], "secret": "HOOK"}, "events"),
        ({"url": "https://example.com/" + "x" * 2048, "events": ["run.failed"], "secret": "HOOK"}, "url"),
        ({"url": "https://example.com/x", "events": ["run.failed"], "jobs": ["nope"], "secret": "HOOK"}, "'nope'"),
    ],
)
def test_a_bad_notification_is_refused_naming_it(notification: dict[str, object], message: str) -> None:
    """A notification's URL, events and jobs are checked when the file is read."""
    project = {"id": "p", "jobs": [{"id": "build", "definition": DEFINITION}], "notifications": [notification]}
    with pytest.raises(ConfigurationError, match=message):
        parse_configuration(json.dumps({"projects": [project]}), format="json")


async def test_apply_stores_notifications_and_refuses_a_missing_secret(storage: Storage) -> None:
    """A notification's secret must exist; once it does, the project's notifications are applied, then changed."""
    notification = {"url": "https://example.com/x", "events": ["run.finished"], "secret": "HOOK"}
    document = {"projects": [{"id": "p", "notifications": [notification]}]}
    with pytest.raises(ConfigurationError, match="the notifications of p: secret 'HOOK' does not exist"):
        await apply_configuration(storage, parse_configuration(json.dumps(document), format="json"))
    await storage.put_project("p")
    await storage.put_secret("p", "HOOK", "sealed")
    changes = await apply_configuration(storage, parse_configuration(json.dumps(document), format="json"))
    assert [change.describe() for change in changes] == ["update project p"]
    project = await storage.get_project("p")
    assert project is not None and [n.url for n in project.notifications] == ["https://example.com/x"]
    assert await apply_configuration(storage, parse_configuration(json.dumps(document), format="json")) == []
