"""The `podium` command against the real stack (master, api, one worker) on SQLite."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stack import Stack

REPOSITORY = Path(__file__).resolve().parents[2]
EXAMPLES = (REPOSITORY / "deploy" / "examples" / "podium.yaml").read_text()

# A project of our own next to the examples: a job that prints, waits for a file, prints again.
LIVE_PROJECT = """
  - id: cli
    jobs:
      - id: live
        parameters:
          - {key: gate, description: file whose existence ends the wait}
        definition:
          type: job
          commands:
            - ["sh", "-c", "echo first; while [ ! -e \\"$0\\" ]; do sleep 0.02; done; echo second", "{parameters.gate}"]
"""


class Cli:
    """Runs the real `podium` executable against one stack, as an administrator."""

    def __init__(self, stack: Stack, config_dir: Path) -> None:
        token = stack.client.headers["Authorization"].removeprefix("Bearer ")
        self.env = {
            **os.environ,
            "TZ": "UTC",
            "PODIUM_API_URL": stack.api_url,
            "PODIUM_TOKEN": token,
            "PODIUM_CONFIG_DIR": str(config_dir),
        }

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run `podium ARGS` to completion."""
        return subprocess.run(
            ["podium", *args], capture_output=True, text=True, timeout=60, env={**self.env, **(env or {})}
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Start `podium ARGS` with its stdout as a pipe."""
        return subprocess.Popen(
            ["podium", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One stack for the whole module: the example project plus `cli/live`, one worker."""
    directory = tmp_path_factory.mktemp("cli-stack")
    config = directory / "podium.yaml"
    config.write_text(EXAMPLES + LIVE_PROJECT)
    stack = Stack(directory, f"sqlite+aiosqlite:///{directory}/podium.db", config=config)
    try:
        stack.start(workers=1)
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def cli(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """The `podium` command, logged in through PODIUM_API_URL and PODIUM_TOKEN."""
    return Cli(stack, tmp_path_factory.mktemp("podium-config"))


def test_trigger_follow_prints_the_log_and_exits_0(cli: Cli) -> None:
    """`podium trigger examples hello -p name=you --follow` prints the log and exits 0."""
    result = cli("trigger", "examples", "hello", "-p", "name=you", "--follow")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello you\n"
    assert "succeeded" in result.stderr
    assert "Traceback" not in result.stderr


def test_trigger_with_a_priority(cli: Cli, stack: Stack) -> None:
    """`podium trigger --priority 7 --json` answers the run with that priority; out of range is refused."""
    result = cli("trigger", "examples", "hello", "-p", "name=urgent", "--priority", "7", "--json")
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    assert run["priority"] == 7
    assert stack.wait_run("examples", run["id"])["status"] == "succeeded"
    refused = cli("trigger", "examples", "hello", "--priority", "1001")
    assert refused.returncode != 0 and "1000" in refused.stderr, refused.stderr


def test_follow_is_live(cli: Cli, tmp_path: Path) -> None:
    """The first line is printed while the run is still going; the command ends when the run does."""
    gate = tmp_path / "gate"
    process = cli.start("trigger", "cli", "live", "-p", f"gate={gate}", "--follow")
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None

    def read() -> None:
        for line in process.stdout or []:
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert lines.get(timeout=30) == "first\n"
        assert process.poll() is None  # still following: the run waits for the gate
        gate.touch()
        assert lines.get(timeout=30) == "second\n"
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        reader.join(timeout=10)


def test_failing_job_exits_non_zero(cli: Cli) -> None:
    """A run that fails makes `trigger --follow` and `trigger --wait` exit 1."""
    followed = cli("trigger", "examples", "fail", "--follow")
    assert followed.returncode == 1, followed.stderr
    assert "about to fail" in followed.stdout
    assert "failed" in followed.stderr
    waited = cli("trigger", "examples", "fail", "--wait", "--json")
    assert waited.returncode == 1, waited.stderr
    assert json.loads(waited.stdout)["status"] == "failed"
    shown = cli("runs", "show", "examples", json.loads(waited.stdout)["id"])
    step = "step 1:     exit 1, "
    assert any(
        line.startswith(step) and line.endswith("sh -c 'echo '\"'\"'about to fail'\"'\"'; exit 1'")
        for line in shown.stdout.splitlines()
    ), shown.stdout


def test_runs_list_show_log_and_download(cli: Cli, tmp_path: Path) -> None:
    """A finished run appears in `runs list`, and `show`, `log` and `download` describe it."""
    triggered = cli("--json", "trigger", "examples", "hello", "-p", "name=lister", "--wait")
    assert triggered.returncode == 0, triggered.stderr
    run_id = json.loads(triggered.stdout)["id"]

    listed = cli("runs", "list", "examples", "--job", "hello", "--json")
    assert listed.returncode == 0, listed.stderr
    assert run_id in [run["id"] for run in json.loads(listed.stdout)["items"]]
    table = cli("runs", "list", "examples", "--status", "succeeded")
    header = ["RUN", "PROJECT", "JOB", "STATUS", "TRIGGER", "WORKER", "CREATED", "DURATION"]
    assert table.stdout.splitlines()[0].split() == header
    row = next(line for line in table.stdout.splitlines() if line.startswith(run_id)).split()
    assert row[1:5] == ["examples", "hello", "succeeded", "admin"]
    assert re.fullmatch(r"\d+\.\ds", row[-1]), row  # the duration
    assert row[-2] == "UTC"  # local time, its zone named (TZ=UTC in this environment)

    shown = cli("runs", "show", "examples", run_id)
    assert shown.returncode == 0, shown.stderr
    assert "status:     succeeded" in shown.stdout
    assert "parameter:  name=lister" in shown.stdout
    assert '"greeted": true' in shown.stdout
    steps = [line for line in shown.stdout.splitlines() if line.startswith("step ")]
    assert len(steps) == 2, shown.stdout
    assert re.fullmatch(r"step 1:     exit 0, \d+\.\ds, log from byte 0: echo 'hello lister'", steps[0]), steps
    assert steps[1].startswith("step 2:     exit 0, ") and "log from byte 13: sh -c " in steps[1], steps
    assert [
        step["log_offset"] for step in json.loads(cli("--json", "runs", "show", "examples", run_id).stdout)["steps"]
    ] == [0, 13]

    log = cli("runs", "log", "examples", run_id)
    assert log.returncode == 0, log.stderr
    assert log.stdout == "hello lister\n"

    archive = tmp_path / "run.tar.gz"
    downloaded = cli("runs", "download", "examples", run_id, "-o", str(archive))
    assert downloaded.returncode == 0, downloaded.stderr
    with tarfile.open(archive) as tar:
        assert {f"{run_id}/run.json", f"{run_id}/log.txt", f"{run_id}/results.json"} <= set(tar.getnames())


def test_refused_and_unknown_give_clear_messages(cli: Cli) -> None:
    """Cancelling a finished run and showing an unknown run exit 3 with one line, no traceback."""
    done = json.loads(cli("--json", "trigger", "examples", "hello", "--wait").stdout)
    cancelled = cli("runs", "cancel", "examples", done["id"])
    assert cancelled.returncode == 3
    assert "409" in cancelled.stderr and "pending" in cancelled.stderr
    missing = cli("runs", "show", "examples", "00000000-0000-0000-0000-000000000000")
    assert missing.returncode == 3
    assert "404" in missing.stderr
    for result in (cancelled, missing):
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_workers_list(cli: Cli) -> None:
    """`podium workers list` shows the connected worker as active and enabled, and the master holding it."""
    result = cli("workers", "list")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows[0][:4] == ["WORKER", "ACTIVE", "ENABLED", "MASTER"]
    assert ["w1", "yes", "yes"] == rows[1][:3]
    assert re.fullmatch(r"\S+:\d+", rows[1][3]), rows[1]  # hostname:pid, the default --master-id


def test_apply_dry_run_prints_changes_and_changes_nothing(cli: Cli, stack: Stack, tmp_path: Path) -> None:
    """`apply --dry-run` lists the changes without making them; `apply` then makes them."""
    config = tmp_path / "podium.yaml"
    extra = "      - id: extra\n        definition: {type: job, commands: [[echo, extra]]}\n"
    config.write_text(EXAMPLES.replace("      - id: fail\n", extra + "      - id: fail\n") + LIVE_PROJECT)
    dry = cli("apply", str(config), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "create job examples/extra" in dry.stdout
    assert "dry run" in dry.stdout
    assert stack.client.get("/projects/examples/jobs/extra").status_code == 404

    applied = cli("apply", str(config), "--json")
    assert applied.returncode == 0, applied.stderr
    assert {"action": "create", "kind": "job", "project": "examples", "id": "extra"} in json.loads(applied.stdout)[
        "items"
    ]
    assert stack.client.get("/projects/examples/jobs/extra").status_code == 200

    again = cli("apply", str(config))
    assert again.returncode == 0, again.stderr
    assert "0 change(s)" in again.stdout


def test_apply_with_a_typo_changes_nothing(cli: Cli, stack: Stack, tmp_path: Path) -> None:
    """A typo is reported with file, line and field, and the stored jobs stay as they were."""
    before = stack.client.get("/projects/examples/jobs").json()
    config = tmp_path / "typo.yaml"
    config.write_text(EXAMPLES.replace("commands:", "comands:", 1).replace("id: hello", "id: renamed", 1))
    result = cli("apply", str(config))
    assert result.returncode == 2
    assert f"{config}:" in result.stderr and "comands" in result.stderr
    assert "Traceback" not in result.stderr
    assert stack.client.get("/projects/examples/jobs").json() == before


def test_login_saves_credentials_and_admin_creates_users_and_tokens(cli: Cli, stack: Stack) -> None:
    """`admin create-user` and `create-token`, then `login` saves a token the next commands use."""
    user = cli("admin", "create-user", "ops", "--role", "operator", "--password", "ops-secret")
    assert user.returncode == 0, user.stderr
    assert "Created user ops" in user.stdout
    token = cli("admin", "create-token", "ops", "--description", "ci")
    assert token.returncode == 0, token.stderr
    runs = cli("runs", "list", "examples", env={"PODIUM_TOKEN": token.stdout.strip()})
    assert runs.returncode == 0, runs.stderr
    ci = cli("admin", "create-token", "ops", "--project", "examples", "--operation", "trigger")
    assert ci.returncode == 0, ci.stderr
    narrowed = {"PODIUM_TOKEN": ci.stdout.strip()}
    assert cli("trigger", "examples", "hello", env=narrowed).returncode == 0  # may trigger, and only that
    assert cli("runs", "list", "examples", env=narrowed).returncode == 3

    anonymous = {"PODIUM_TOKEN": "", "PODIUM_API_URL": ""}
    login = cli("--url", stack.api_url, "login", "-u", "ops", "--password", "ops-secret", env=anonymous)
    assert login.returncode == 0, login.stderr
    assert "Logged in" in login.stdout
    assert cli("workers", "list", env=anonymous).returncode == 0
    refused = cli("admin", "create-user", "eve", env=anonymous)  # an operator is no administrator
    assert refused.returncode == 3
    wrong = cli("--url", stack.api_url, "login", "-u", "ops", "--password", "nope", env=anonymous)
    assert wrong.returncode == 3 and "Traceback" not in wrong.stderr


def test_secrets_set_list_delete(cli: Cli, stack: Stack, tmp_path: Path) -> None:
    """`podium secrets` sets from stdin or a file (never an argument), lists names only, deletes."""
    value = "cli-secret-value-42"
    from_stdin = subprocess.run(
        ["podium", "secrets", "set", "examples", "FROM_STDIN"],
        input=value + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        env=cli.env,
    )
    assert from_stdin.returncode == 0, from_stdin.stderr
    source = tmp_path / "value"
    source.write_text(value)
    assert cli("secrets", "set", "examples", "FROM_FILE", "--from-file", str(source)).returncode == 0
    listed = cli("secrets", "list", "examples", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [item["name"] for item in json.loads(listed.stdout)["items"]] == ["FROM_FILE", "FROM_STDIN"]
    assert value not in listed.stdout and value not in cli("secrets", "list", "examples").stdout
    short = subprocess.run(
        ["podium", "secrets", "set", "examples", "SHORT"], input="tiny", capture_output=True, text=True, env=cli.env
    )
    assert short.returncode == 3 and "at least 8 bytes" in short.stderr
    assert cli("secrets", "delete", "examples", "FROM_STDIN").returncode == 0
    assert cli("secrets", "delete", "examples", "FROM_FILE").returncode == 0
    missing = cli("secrets", "delete", "examples", "FROM_FILE")
    assert missing.returncode == 3 and "FROM_FILE" in missing.stderr
    assert json.loads(cli("secrets", "list", "examples", "--json").stdout) == {"items": []}
    assert value not in stack.outputs()


def test_a_unique_prefix_or_the_short_id_selects_a_run(cli: Cli) -> None:
    """`runs show` takes a unique prefix of a run id, or its last 8 characters as lists show it."""
    first = json.loads(cli("--json", "trigger", "examples", "hello", "-p", "name=prefix", "--wait").stdout)
    second = json.loads(cli("--json", "trigger", "examples", "hello", "--wait").stdout)
    for given in (first["id"][:-6], first["id"][-8:]):
        shown = cli("--json", "runs", "show", "examples", given)
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["id"] == first["id"]
    common = os.path.commonprefix([first["id"], second["id"]])
    if len(common) >= 4:  # both created in the same second or so: their shared prefix is ambiguous
        ambiguous = cli("runs", "show", "examples", common)
        assert ambiguous.returncode == 2 and "ambiguous" in ambiguous.stderr
    unknown = cli("runs", "show", "examples", "ffffffff")
    assert unknown.returncode == 3 and "no run of examples matches" in unknown.stderr


def test_json_shapes_follow_one_rule(cli: Cli) -> None:
    """Every listing prints {"items": [...]}, a single thing its object."""
    for args in (["workers", "list"], ["runs", "list"], ["runs", "list", "examples"], ["projects", "list"],
                 ["jobs", "list"], ["jobs", "list", "examples"]):  # fmt: skip
        result = cli("--json", *args)
        assert result.returncode == 0, (args, result.stderr)
        answer = json.loads(result.stdout)
        assert isinstance(answer, dict) and isinstance(answer["items"], list), args
    run = json.loads(cli("--json", "trigger", "examples", "hello").stdout)
    assert run["job"] == "hello"


def test_projects_jobs_and_runs_across_projects(cli: Cli) -> None:
    """`projects list`, `jobs list` (all projects) and `runs list` without a project."""
    projects = cli("projects", "list")
    assert projects.returncode == 0 and "examples" in projects.stdout
    jobs = [line.split()[:3] for line in cli("jobs", "list").stdout.splitlines()]
    assert ["examples", "build-and-test", "pipeline"] in jobs
    done = json.loads(cli("--json", "trigger", "examples", "hello", "--wait").stdout)
    everywhere = json.loads(cli("--json", "runs", "list").stdout)["items"]
    assert done["id"] in [run["id"] for run in everywhere]


def test_follow_prints_the_waiting_reason_and_a_pipelines_children(cli: Cli, stack: Stack) -> None:
    """With the worker disabled `trigger --follow` says why the run waits; a pipeline shows its children."""
    assert stack.client.post("/workers/w1/disable").status_code == 200
    try:
        follower = cli.start("trigger", "examples", "hello", "--follow")
        assert follower.stderr is not None
        first = follower.stderr.readline()
        assert " is pending" in first, first
        waiting = follower.stderr.readline()
        assert waiting.startswith("waiting: "), waiting
    finally:
        assert stack.client.post("/workers/w1/enable").status_code == 200
    out, rest = follower.communicate(timeout=60)
    assert follower.returncode == 0, rest
    assert "hello world" in out
    pipeline = cli("trigger", "examples", "build-and-test", "--follow")
    assert pipeline.returncode == 0, pipeline.stderr
    assert re.search(r"^build: hello #[0-9a-f]{8} succeeded$", pipeline.stderr, re.M), pipeline.stderr
    assert re.search(r"^test: hello #[0-9a-f]{8} succeeded$", pipeline.stderr, re.M), pipeline.stderr


def test_runs_log_follow_of_a_failed_run_exits_1(cli: Cli) -> None:
    """`runs log --follow` ends with the run's exit code, as `trigger --follow` does."""
    failed = json.loads(cli("--json", "trigger", "examples", "fail", "--wait").stdout)
    followed = cli("runs", "log", "examples", failed["id"], "--follow")
    assert followed.returncode == 1, followed.stderr
    assert "about to fail" in followed.stdout


def test_apply_naming_a_missing_secret_exits_non_zero(cli: Cli, tmp_path: Path) -> None:
    """`podium apply` of a job naming a secret the project lacks exits 3 and names the secret."""
    config = tmp_path / "podium.yaml"
    config.write_text(
        "projects:\n  - id: needy\n    jobs:\n      - id: needs\n"
        '        definition: {type: job, secrets: [NOT_SET_ANYWHERE], commands: [["true"]]}\n'
    )
    result = cli("apply", str(config))
    assert result.returncode == 3, result.stderr
    assert "NOT_SET_ANYWHERE" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("expression", ["61 * * * *", "* * * *"])
def test_apply_refuses_an_invalid_cron_expression(cli: Cli, stack: Stack, tmp_path: Path, expression: str) -> None:
    """A schedule that could never fire is refused at apply, naming file, line and field."""
    config = tmp_path / "cron.yaml"
    config.write_text(EXAMPLES.replace('expression: "0 3 * * *"', f'expression: "{expression}"', 1))
    assert expression in config.read_text()
    result = cli("apply", str(config), "--dry-run")
    assert result.returncode == 2, result.stdout
    assert f"{config}:" in result.stderr and "expression" in result.stderr and "cron" in result.stderr
    assert "Traceback" not in result.stderr


_CHECKED = (
    "projects:\n  - id: checked\n    jobs:\n"
    "      - id: greet\n        parameters:\n          - {key: name, required: true}\n"
    '          - {key: times, type: integer, default: "1"}\n'
    '        definition: {type: job, commands: [["echo", "COMMAND"]], secrets: [SECRETS]}\n'
    "      - id: flow\n        definition:\n          type: pipeline\n"
    "          elements:\n            - {id: first, job: greet, parameters: ELEMENT}\n"
    '    schedules:\n      - {id: nightly, job: greet, expression: "0 3 * * *", parameters: SCHEDULE}\n'
)
_VALID = {"COMMAND": "hello {parameters.name}", "SECRETS": "", "ELEMENT": "{name: a}", "SCHEDULE": "{name: b}"}


@pytest.mark.parametrize(
    ("change", "line", "field", "says"),
    [
        ({"COMMAND": "hello {parameters.nobody}"}, 8, "commands.0.1", "does not declare"),
        ({"COMMAND": "hello {parameters.name"}, 8, "commands.0.1", "unbalanced"),
        ({"COMMAND": "hello }"}, 8, "commands.0.1", "unbalanced"),
        ({"SCHEDULE": "{}"}, 15, "schedules.0.parameters", "'name' of job 'greet' is required"),
        ({"SCHEDULE": "{name: b, colour: red}"}, 15, "schedules.0.parameters.colour", "no parameter 'colour'"),
        ({"SCHEDULE": "{name: b, times: many}"}, 15, "schedules.0.parameters.times", "not an integer"),
        ({"ELEMENT": "{}"}, 13, "elements.0.parameters", "'name' of job 'greet' is required"),
        ({"ELEMENT": "{name: a, colour: red}"}, 13, "elements.0.parameters.colour", "no parameter 'colour'"),
        ({"SECRETS": "PODIUM_TOKEN"}, 8, "secrets.0", "cannot exist"),
    ],
)
def test_apply_dry_run_refuses_what_no_run_could_use(
    cli: Cli, tmp_path: Path, change: dict[str, str], line: int, field: str, says: str
) -> None:
    """Templates, schedules', elements' parameters and secret names are checked at apply: exit 2, file, line, field."""
    text = _CHECKED
    for name, value in {**_VALID, **change}.items():
        text = text.replace(name, value)
    config = tmp_path / "checked.yaml"
    config.write_text(text)
    result = cli("apply", str(config), "--dry-run")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert f"{config}:{line}: " in result.stderr and field in result.stderr and says in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_apply_dry_run_accepts_the_valid_variant(cli: Cli, tmp_path: Path) -> None:
    """The configuration the refusals above alter applies (a dry run changes nothing)."""
    text = _CHECKED
    for name, value in _VALID.items():
        text = text.replace(name, value)
    config = tmp_path / "checked.yaml"
    config.write_text(text)
    result = cli("apply", str(config), "--dry-run")
    assert result.returncode == 0, result.stderr
