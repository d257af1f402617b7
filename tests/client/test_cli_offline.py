"""The `podium` command line on its own: schema, configuration errors, usage errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support import free_port, wait_until


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


def test_version() -> None:
    """`podium --version` prints the client's version."""
    result = podium("--version")
    assert result.returncode == 0
    assert re.fullmatch(r"podium \d+\.\d+\.\d+\S*\n", result.stdout), result.stdout


def test_each_action_has_its_own_help() -> None:
    """`podium runs list --help` shows list's options only, not those of show, log or download."""
    result = podium("runs", "list", "--help")
    assert result.returncode == 0
    assert "--status" in result.stdout and "--job" in result.stdout
    assert "--output" not in result.stdout and "--follow" not in result.stdout
    download = podium("runs", "download", "--help").stdout
    assert "--output" in download and "--status" not in download


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_generate(shell: str) -> None:
    """`podium completion SHELL` prints a script naming the commands and their options."""
    result = podium("completion", shell)
    assert result.returncode == 0, result.stderr
    for word in ("runs", "list", "trigger", "follow", "migrate"):  # fish names options without dashes
        assert word in result.stdout


def test_bash_completion_completes_commands_actions_and_options(tmp_path: Path) -> None:
    """Loaded into bash, the script completes a command, an action after --url's value, and options."""
    script = tmp_path / "try.sh"
    script.write_text(
        "source <(podium completion bash)\n"
        't() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _podium; echo "${COMPREPLY[*]}"; }\n'
        "t podium tri\n"
        "t podium --url http://x runs l\n"
        "t podium runs list --st\n"
    )
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=30)
    assert result.stdout.splitlines() == ["trigger", "list log", "--status"], result.stderr


def test_a_server_that_is_not_podium_gives_one_line(tmp_path: Path) -> None:
    """Pointed at a plain web server, the command says so in one line, never printing its HTML."""
    (tmp_path / "index.html").write_text("<html><body>Welcome to nginx!</body></html>")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(url), 20, "the plain web server")
        result = podium("--url", url, "--token", "x", "runs", "list", "examples")
    finally:
        server.terminate()
        server.wait(10)
    assert result.returncode == 4, result.stderr
    assert "does not look like a Podium api" in result.stderr
    assert "<html" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def _answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=1)
    except httpx.HTTPError:
        return False
    return True


def test_importing_into_an_unmigrated_database_names_the_migrate_command(tmp_path: Path) -> None:
    """`podium admin import` into a database never migrated says to run `podium admin migrate`, no traceback."""
    source = f"sqlite+aiosqlite:///{tmp_path / 'source.db'}"
    assert podium("admin", "migrate", "--database-url", source).returncode == 0
    backup = tmp_path / "backup.jsonl"
    assert podium("admin", "export", str(backup), "--database-url", source).returncode == 0
    result = podium("admin", "import", str(backup), "--database-url", f"sqlite+aiosqlite:///{tmp_path / 'new.db'}")
    assert result.returncode != 0
    assert "run `podium admin migrate` first" in result.stderr
    assert "Traceback" not in result.stderr


def test_runs_show_names_a_container_runs_image_and_digest() -> None:
    from podium_client._output import run_details
    from podium_model import Run, utcnow

    now = utcnow()
    run = Run(
        project="p", id="r1", job="j", created_at=now, updated_at=now, image="debian:12", image_digest="sha256:ab"
    )
    assert "image:      debian:12 (sha256:ab)" in run_details(run).splitlines()
    assert not any(
        line.startswith("image:") for line in run_details(run.model_copy(update={"image": None})).splitlines()
    )
