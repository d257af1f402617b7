"""The example configuration that `make run` loads is valid and has the documented jobs."""

from __future__ import annotations

from pathlib import Path

from podium_model.config import parse_configuration
from podium_model.jobs import CommandsDefinition, PipelineDefinition

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "podium.yaml"


def test_example_configuration_validates() -> None:
    """deploy/examples/podium.yaml parses with the schema and holds hello, fail, slow and a pipeline."""
    configuration = parse_configuration(EXAMPLE.read_text(), str(EXAMPLE))
    (project,) = configuration.projects
    assert project.id == "examples"
    jobs = {job.id: job for job in project.jobs}
    assert {"hello", "fail", "slow", "build-and-test"} <= set(jobs)
    hello = jobs["hello"]
    assert [(p.key, p.default) for p in hello.parameters] == [("name", "world")]
    assert isinstance(hello.definition, CommandsDefinition)
    assert hello.definition.commands[0] == ["echo", "hello {parameters.name}"]
    assert "$PODIUM_RESULTS" in hello.definition.commands[1][2]
    assert isinstance(jobs["build-and-test"].definition, PipelineDefinition)
    assert isinstance(jobs["fail"].definition, CommandsDefinition)
    assert "exit 1" in jobs["fail"].definition.commands[0][2]
