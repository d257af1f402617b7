"""The executor as a real process on a run directory: statuses, log bytes, templates, results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import pytest

from podium_model.limits import RESULTS_BYTES
from podium_model.messages import RunRequest, WorkerRunState
from podium_model.runs import RunStatus
from podium_worker._runfiles import encode_handover
from podium_worker.executor import MAX_RESULTS
from podium_worker.rundir import RunDirectory

EXECUTOR = [sys.executable, "-m", "podium_worker.executor"]


def make_run(
    tmp_path: Path,
    commands: list[list[str]],
    parameters: dict[str, str] | None = None,
    timeout: int | None = None,
    definition_environment: dict[str, str] | None = None,
    environment: dict[str, str] | None = None,
    artifacts: list[str] | None = None,
) -> Path:
    """Write `request.json` (validated by the wire model) into a fresh run directory."""
    run_dir = tmp_path / "run-1"
    run_dir.mkdir(parents=True)
    request = RunRequest.model_validate(
        {
            "run_id": "run-1",
            "project": "examples",
            "job": "hello",
            "parameters": parameters or {},
            "definition": {
                "type": "job",
                "commands": commands,
                "timeout": timeout,
                "environment": definition_environment or {},
                "artifacts": artifacts or [],
            },
            "environment": environment or {},
            "worker": {"id": "w1", "os": "linux"},
        }
    )
    RunDirectory(run_dir).write_request(request)  # as the worker writes it (mode 0600)
    return run_dir


def start(
    run_dir: Path,
    stdout: int | IO[bytes] = subprocess.DEVNULL,
    env: dict[str, str] | None = None,
    handover: bytes | None = None,
) -> subprocess.Popen[bytes]:
    """Start the executor exactly as the worker does (`handover`: what the worker keeps off disk)."""
    with (run_dir / "executor.err").open("ab") as err:
        process = subprocess.Popen(
            [*EXECUTOR, str(run_dir)],
            start_new_session=True,
            stdin=subprocess.DEVNULL if handover is None else subprocess.PIPE,
            stdout=stdout,
            stderr=err,
            env={**os.environ, **(env or {})},
        )
    if process.stdin is not None:
        process.stdin.write(handover or b"")
        process.stdin.close()
    return process


def state(run_dir: Path) -> dict[str, Any]:
    """The executor's state file, checked against the wire model."""
    value: dict[str, Any] = json.loads((run_dir / "state.json").read_text())
    WorkerRunState.model_validate(value)
    return value


def execute(
    run_dir: Path, timeout: float = 30, env: dict[str, str] | None = None, handover: bytes | None = None
) -> dict[str, Any]:
    """Run the executor to its end and return its final state."""
    process = start(run_dir, env=env, handover=handover)
    assert process.wait(timeout=timeout) == 0, (run_dir / "executor.err").read_text()
    final = state(run_dir)
    assert RunStatus(final["status"]).is_final
    assert final["log_size"] == (run_dir / "log").stat().st_size
    return final


def test_success_log_bytes_interleaved(tmp_path: Path) -> None:
    """stdout and stderr of every command land in one log, byte for byte, in the order written."""
    run_dir = make_run(
        tmp_path,
        [
            ["sh", "-c", "printf 'out1\\n'; printf 'err1\\n' >&2; printf 'out2'; printf '\\000\\377' >&2"],
            ["echo", "hello {parameters.name} from {run.project}/{run.job} on {worker.os} {{braces}}"],
        ],
        parameters={"name": "world"},
    )
    final = execute(run_dir)
    assert final["status"] == "succeeded"
    assert final["reason"] is None
    assert (run_dir / "log").read_bytes() == (
        b"out1\nerr1\nout2\x00\xffhello world from examples/hello on linux {braces}\n"
    )
    assert final["started_at"] <= final["completed_at"]
    assert final["completed_at"].endswith("+00:00")
    assert int((run_dir / "executor.pid").read_text()) > 0


def test_failure_skips_later_commands(tmp_path: Path) -> None:
    """A non-zero exit ends the run `failed`, names the command, and runs nothing after it."""
    run_dir = make_run(tmp_path, [["true"], ["sh", "-c", "echo bad; exit 3"], ["touch", "later"]])
    final = execute(run_dir)
    assert final["status"] == "failed"
    assert "command 2" in final["reason"] and "code 3" in final["reason"]
    assert (run_dir / "log").read_bytes() == b"bad\n"
    assert not (run_dir / "workspace" / "later").exists()


def test_missing_executable_is_exception(tmp_path: Path) -> None:
    """An executable that does not exist ends the run `exception`, with nothing in the log."""
    run_dir = make_run(tmp_path, [["touch", "first"], ["no-such-program-podium", "x"], ["touch", "later"]])
    final = execute(run_dir)
    assert final["status"] == "exception"
    assert "command 2" in final["reason"] and "no-such-program-podium" in final["reason"]
    assert (run_dir / "log").read_bytes() == b""
    assert (run_dir / "workspace" / "first").exists()
    assert not (run_dir / "workspace" / "later").exists()


def test_not_executable_is_exception(tmp_path: Path) -> None:
    """A file without the execute permission ends the run `exception`."""
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    run_dir = make_run(tmp_path, [[str(script)]])
    final = execute(run_dir)
    assert final["status"] == "exception"
    assert "ermission denied" in final["reason"]


@pytest.mark.parametrize(
    "template",
    ["{run.__class__}", "{parameters[name]}", "{run.id!r}", "{run.id:>10}", "{os.environ}", "{parameters.nope}", "{"],
)
def test_hostile_template_is_exception_before_any_command(tmp_path: Path, template: str) -> None:
    """A template that is not allowed, even in the last command, stops the run before the first."""
    run_dir = make_run(tmp_path, [["touch", "first"], ["echo", "ok"], ["echo", f"x {template}"]])
    final = execute(run_dir)
    assert final["status"] == "exception"
    assert "command 3 argv[1]" in final["reason"]
    assert not (run_dir / "workspace" / "first").exists()
    assert (run_dir / "log").read_bytes() == b""


@pytest.mark.parametrize(
    "value",
    ["{run.__class__}", "$(touch pwned)", "; touch pwned", "`touch pwned`", "{{x}} {", "a'b\"c\\d\n$HOME"],
)
def test_hostile_parameter_values_are_literal(tmp_path: Path, value: str) -> None:
    """A parameter value reaches the command verbatim and is never evaluated."""
    run_dir = make_run(tmp_path, [["sh", "-c", 'printf %s "$1" > out', "_", "{parameters.x}"]], parameters={"x": value})
    final = execute(run_dir)
    assert final["status"] == "succeeded"
    assert (run_dir / "workspace" / "out").read_text() == value
    assert not list(tmp_path.rglob("pwned"))


def test_results_merged_and_readable_by_later_commands(tmp_path: Path) -> None:
    """Each command's results merge into the run's (later keys win) and feed `{results.KEY}`."""
    write = 'printf %s "$1" > "$PODIUM_RESULTS"'
    run_dir = make_run(
        tmp_path,
        [
            ["sh", "-c", write, "_", '{{"a": "x", "n": 1}}'],
            ["sh", "-c", write, "_", '{{"b": [1, 2], "n": 2}}'],
            ["true"],
            ["sh", "-c", 'printf %s "$1|$2|$3" > out', "_", "{results.a}", "{results.b}", "{results.n}"],
        ],
    )
    final = execute(run_dir)
    assert final["status"] == "succeeded"
    assert final["results"] == {"a": "x", "b": [1, 2], "n": 2}
    assert (run_dir / "workspace" / "out").read_text() == "x|[1, 2]|2"
    assert json.loads((run_dir / "results.json").read_text()) == final["results"]


def test_invalid_results_is_exception(tmp_path: Path) -> None:
    """A results file that is not a JSON object ends the run `exception` and stops it."""
    run_dir = make_run(tmp_path, [["sh", "-c", 'echo "{not json" > "$PODIUM_RESULTS"'], ["touch", "later"]])
    final = execute(run_dir)
    assert final["status"] == "exception"
    assert "command 1" in final["reason"] and "PODIUM_RESULTS" in final["reason"]
    assert not (run_dir / "workspace" / "later").exists()


def test_results_over_the_limit_end_the_run(tmp_path: Path) -> None:
    """Results that merge to more than `RESULTS_BYTES` end the run `exception`, keeping what fitted."""
    assert MAX_RESULTS == RESULTS_BYTES  # the executor keeps its own copy (stdlib only)
    write = "import json, os, sys; json.dump({{sys.argv[1]: 'x' * 614400}}, open(os.environ['PODIUM_RESULTS'], 'w'))"
    command = [sys.executable, "-c", write]  # 600 KiB each: a file fits the limit, the two merged do not
    run_dir = make_run(tmp_path, [[*command, "a"], [*command, "b"], ["touch", "later"]])
    final = execute(run_dir)
    assert final["status"] == "exception"
    assert "command 2" in final["reason"] and str(MAX_RESULTS) in final["reason"], final["reason"]
    assert list(final["results"]) == ["a"]
    assert not (run_dir / "workspace" / "later").exists()


def test_missing_result_key_is_exception(tmp_path: Path) -> None:
    """Reading a result no earlier command produced ends the run `exception` at that command."""
    run_dir = make_run(tmp_path, [["echo", "one"], ["echo", "{results.never}"]])
    final = execute(run_dir)
    assert final["status"] == "exception"
    assert "results.never" in final["reason"]
    assert (run_dir / "log").read_bytes() == b"one\n"


def test_environment(tmp_path: Path) -> None:
    """Commands see the base variables, the job's (rendered) environment, the request's, the
    parameters as PODIUM_PARAM_* and the run's PODIUM_*, and nothing else of the executor's."""
    dump = "import json, os; json.dump(dict(env=dict(os.environ), cwd=os.getcwd()), open('env.json', 'w'))"
    run_dir = make_run(
        tmp_path,
        [[sys.executable, "-c", dump]],
        definition_environment={"GREETING": "hi {parameters.name} {run.id}", "PODIUM_API_URL": "overridden"},
        environment={"PODIUM_API_URL": "http://api", "PODIUM_TOKEN": "secret"},
        parameters={"name": "bob", "Odd_key": "x", "PODIUM_RUN_ID": "not the run's"},
    )
    worker_env = {"FROM_WORKER": "no", "PODIUM_WORKER_TOKEN": "worker-token", "LC_TIME": "C", "TZ": "UTC"}
    handover = encode_handover({"A_SECRET": "hidden value"}, {"PODIUM_TOKEN": "secret"})
    assert execute(run_dir, env=worker_env, handover=handover)["status"] == "succeeded"
    seen = json.loads((run_dir / "workspace" / "env.json").read_text())
    env = seen["env"]
    assert env.pop("GREETING") == "hi bob run-1"
    assert env.pop("PODIUM_API_URL") == "http://api"
    assert env.pop("PODIUM_TOKEN") == "secret"
    assert env.pop("A_SECRET") == "hidden value"
    assert [env.pop(f"PODIUM_{name}") for name in ("RUN_ID", "PROJECT", "JOB")] == ["run-1", "examples", "hello"]
    assert env.pop("PODIUM_RESULTS") == str(run_dir / "results.json")
    assert env.pop("PODIUM_WORKSPACE") == str(run_dir / "workspace") == seen["cwd"]
    assert env.pop("PODIUM_PARAM_NAME") == "bob"
    assert env.pop("PODIUM_PARAM_ODD_KEY") == "x"
    assert env.pop("PODIUM_PARAM_PODIUM_RUN_ID") == "not the run's"
    assert env.pop("PATH") == os.environ["PATH"]
    assert (env.pop("LC_TIME"), env.pop("TZ")) == ("C", "UTC")
    assert set(env) <= {"HOME", "LANG", "TMPDIR", "USER", "LC_CTYPE"}, env  # the base, if the test has them


def test_a_secret_parameter_stays_off_the_disk_and_out_of_the_log(tmp_path: Path) -> None:
    """The worker stores the request without the value and hands it over; the commands see it, the log masks it."""
    value = "param-secret-4d2"
    run_dir = tmp_path / "run-1"
    request = RunRequest.model_validate(
        {
            "run_id": "run-1",
            "project": "examples",
            "job": "hello",
            "parameters": {"password": value, "name": "bob"},
            "secret_parameters": ["password"],
            "definition": {
                "type": "job",
                "commands": [["sh", "-c", 'echo "{parameters.password} $PODIUM_PARAM_PASSWORD"']],
            },
        }
    )
    RunDirectory(run_dir).write_request(request)
    assert value not in (run_dir / "request.json").read_text()
    handover = encode_handover({}, {}, {"password": value})
    assert execute(run_dir, handover=handover)["status"] == "succeeded"
    assert (run_dir / "log").read_bytes() == b"[masked] [masked]\n"


def test_pass_env_lets_named_worker_variables_through(tmp_path: Path) -> None:
    """A variable the worker's PODIUM_WORKER_PASS_ENV names reaches the commands; others do not."""
    run_dir = make_run(tmp_path, [["sh", "-c", 'echo "[$SHARED] [$HIDDEN]"']])
    env = {"SHARED": "yes", "HIDDEN": "no", "PODIUM_WORKER_PASS_ENV": " SHARED, MISSING "}
    assert execute(run_dir, env=env)["status"] == "succeeded"
    assert (run_dir / "log").read_bytes() == b"[yes] []\n"


def test_shell_quoted_parameters_stay_data(tmp_path: Path) -> None:
    """`{parameters.x|sh}` and "$PODIUM_PARAM_X" in `sh -c` keep a hostile value as data; the bare
    template pastes it into the shell code (which is why the filter exists)."""
    marker = tmp_path / "p"
    hostile = f"a; touch {marker}"
    run_dir = make_run(
        tmp_path,
        [["sh", "-c", "echo {parameters.x|sh}"], ["sh", "-c", 'echo "$PODIUM_PARAM_X"']],
        parameters={"x": hostile},
    )
    assert execute(run_dir)["status"] == "succeeded"
    assert (run_dir / "log").read_text() == f"{hostile}\n{hostile}\n"
    assert not marker.exists()
    unquoted = make_run(tmp_path / "unquoted", [["sh", "-c", "echo {parameters.x}"]], parameters={"x": hostile})
    assert execute(unquoted)["status"] == "succeeded"
    assert marker.exists()


def test_large_output_byte_identical(tmp_path: Path) -> None:
    """20 MB of binary output reach the log byte for byte (compared with a copy the job writes)."""
    run_dir = make_run(tmp_path, [["sh", "-c", "head -c 20000000 /dev/urandom > data; cat data; printf end >&2"]])
    final = execute(run_dir)
    assert final["status"] == "succeeded"
    assert final["log_size"] == 20_000_003
    assert (run_dir / "log").read_bytes() == (run_dir / "workspace" / "data").read_bytes() + b"end"


@pytest.mark.parametrize("content", ["not json", "[]", '{"run_id": 3}'])
def test_invalid_request_is_exception(tmp_path: Path, content: str) -> None:
    """An unreadable request ends `exception` with a clear reason, and the executor exits 0."""
    run_dir = tmp_path / "run-x"
    run_dir.mkdir()
    (run_dir / "request.json").write_text(content)
    final = execute(run_dir)
    assert final["status"] == "exception"
    assert "request.json" in final["reason"]
    assert final["run_id"] == "run-x"


def test_entry_point_stays_light() -> None:
    """The executor imports neither pydantic nor the model library nor heavy stdlib modules."""
    code = "import sys, podium_worker.executor; print(' '.join(sorted(sys.modules)))"
    loaded = set(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True).stdout.split())
    heavy = {b"pydantic", b"podium_model", b"typing", b"subprocess", b"pathlib", b"logging", b"datetime"}
    assert not loaded & heavy


def test_example_shell_job_keeps_a_hostile_parameter_as_data(tmp_path: Path) -> None:
    """The example project's `shell` job, run with a name holding shell code, prints it twice and
    runs none of it (the documented ways: "$PODIUM_PARAM_NAME" and `|sh`)."""
    from podium_model.config import parse_configuration

    example = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "podium.yaml"
    (project,) = parse_configuration(example.read_text(), str(example)).projects
    (job,) = [job for job in project.jobs if job.id == "shell"]
    marker = tmp_path / "p"
    name = f"it's me; touch {marker}"
    commands = job.definition.commands  # type: ignore[union-attr]
    run_dir = make_run(tmp_path, commands, parameters={"name": name})
    assert execute(run_dir)["status"] == "succeeded"
    assert (run_dir / "log").read_text() == f"hello {name}\nhello {name} again\n"
    assert not marker.exists()


def test_malformed_handover_ends_the_run_exception(tmp_path: Path) -> None:
    """Secrets handed over on stdin that are not the worker's JSON end the run before any command."""
    run_dir = make_run(tmp_path, [["touch", "ran"]])
    with (run_dir / "executor.err").open("ab") as err:
        process = subprocess.run([*EXECUTOR, str(run_dir)], input=b"[1]", stderr=err, timeout=30, check=False)
    assert process.returncode == 0
    final = state(run_dir)
    assert (final["status"], final["reason"]) == ("exception", "the secrets handed over are not a JSON object")
    assert not (run_dir / "workspace" / "ran").exists()
