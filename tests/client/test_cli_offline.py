"""The `podium` command line on its own: schema, configuration errors, usage errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest


def podium(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `podium` command."""
    return subprocess.run(["podium", *args], capture_output=True, text=True, timeout=30, env=env)


def test_schema_is_json_schema_of_the_configuration() -> None:
    """`podium schema` prints a JSON schema naming projects, jobs and schedules."""
    result = podium("schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert schema["title"] == "Podium configuration"
    assert {"ProjectConfig", "JobConfig", "ScheduleConfig"} <= set(schema["$defs"])


def test_apply_with_a_typo_names_file_line_and_field(tmp_path: Path) -> None:
    """A typo in the configuration is reported with file, line and field, before any request."""
    config = tmp_path / "podium.yaml"
    config.write_text(
        "projects:\n"
        "  - id: demo\n"
        "    jobs:\n"
        "      - id: hello\n"
        "        definition:\n"
        "          type: job\n"
        "          comands: [[echo, hi]]\n"
    )
    # An unreachable url proves the check happens before contacting the api.
    result = podium("--url", "http://127.0.0.1:9", "apply", str(config))
    assert result.returncode == 2
    assert f"{config}:7: projects.0.jobs.0.definition.comands: Extra inputs are not permitted" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_parameter_syntax_is_a_usage_error() -> None:
    """`-p` without `=` is refused with exit code 2 and one line."""
    result = podium("--url", "http://127.0.0.1:9", "trigger", "examples", "hello", "-p", "oops")
    assert result.returncode == 2
    assert result.stderr.strip() == "podium: parameter 'oops' is not KEY=VALUE"


@pytest.mark.parametrize("args", [["runs", "list", "examples"], ["workers", "list"]])
def test_unreachable_api_exits_4_without_traceback(args: list[str]) -> None:
    """An api that does not answer gives exit code 4 and a one-line message."""
    result = podium("--url", "http://127.0.0.1:9", "--token", "x", *args)
    assert result.returncode == 4
    assert result.stderr.startswith("podium: cannot reach")
    assert "Traceback" not in result.stderr
