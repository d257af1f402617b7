"""The one configuration loader (api body, master --config, podium-admin apply) and its limits."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from podium_model.config import ConfigurationError, ConfigurationTooLarge, parse_configuration, read_configuration
from podium_model.limits import CONFIGURATION_BYTES, PARAMETER_VALUE_BYTES
from tests.integration.test_limits import BILLION_LAUGHS, aliased_job

SHARED = """
projects:
  - id: anchors
    jobs:
      - id: one
        definition: &echo {type: job, commands: [["echo", "shared"]]}
      - id: two
        definition: *echo
"""


def test_aliases_within_the_limit_are_read() -> None:
    """Anchors that keep a document short are fine while the expanded size stays within the limit."""
    project = parse_configuration(SHARED).projects[0]
    assert [job.definition for job in project.jobs][0] == project.jobs[1].definition


def test_billion_laughs_is_refused_before_it_expands() -> None:
    """The expanded size is counted on the composed nodes: refused at once, nothing built."""
    start = time.monotonic()
    with pytest.raises(ConfigurationTooLarge) as refused:
        parse_configuration(BILLION_LAUGHS)
    assert time.monotonic() - start < 1.0
    assert refused.value.size > CONFIGURATION_BYTES
    assert str(CONFIGURATION_BYTES) in str(refused.value)


def test_master_config_file_goes_through_the_same_loader(tmp_path: Path) -> None:
    """read_configuration (the master's --config) refuses the aliased job and picks JSON by suffix."""
    aliased = tmp_path / "aliased.yaml"
    aliased.write_text(aliased_job(argument=10_000, arguments=100, commands=20))
    with pytest.raises(ConfigurationTooLarge):
        read_configuration(aliased)
    as_json = tmp_path / "podium.json"
    as_json.write_text('{"projects": [{"id": "p", "display_name": "\\ud83d\\ude00"}]}')
    assert read_configuration(as_json).projects[0].display_name == "\N{GRINNING FACE}"
    too_big = tmp_path / "big.yaml"
    too_big.write_bytes(b"#" * (CONFIGURATION_BYTES + 1))
    with pytest.raises(ConfigurationTooLarge):
        read_configuration(too_big)


def test_parameter_defaults_and_schedules_are_bounded() -> None:
    """A default or a schedule parameter over the value limit is a configuration error naming it."""
    value = "x" * (PARAMETER_VALUE_BYTES + 1)
    job = '{id: j, definition: {type: job, commands: [["true"]]}}'
    for document in (
        f"projects: [{{id: p, jobs: [{{id: j, parameters: [{{key: k, default: {value}}}], definition: {{type: job,"
        ' commands: [["true"]]}}]}]',
        f"projects: [{{id: p, jobs: [{job}], schedules: [{{id: s, job: j, expression: '0 3 * * *',"
        f" parameters: {{k: {value}}}}}]}}]",
    ):
        with pytest.raises(ConfigurationError) as refused:
            parse_configuration(document)
        assert str(PARAMETER_VALUE_BYTES) in str(refused.value)


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    """A document nested deeper than the parsers recurse is a configuration error."""
    with pytest.raises(ConfigurationError):
        parse_configuration("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigurationError):
        parse_configuration("[" * 100_000 + "]" * 100_000, format="json")
