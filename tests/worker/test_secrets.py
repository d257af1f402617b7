"""A run's secrets on the worker: in its commands' environment, never on the worker's disk."""

from __future__ import annotations

import json
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from podium_model.messages import RunRequest, StatusUpdate
from podium_worker.launch import Launcher
from podium_worker.rundir import RunDirectory
from podium_worker.runs import Link, RunSet
from tests.worker.test_launcher import finished, until

SECRET = "s3cr3t-deploy-key-value"
TOKEN = "podium-run.r.token-value-0123456789"
DUMP = 'printf "%s|%s|%s" "$DEPLOY_KEY" "$PODIUM_TOKEN" "$PODIUM_API_URL" > seen'


def request(run_id: str, command: str) -> RunRequest:
    """A run request with one secret and a run token, as the master sends it."""
    return RunRequest.model_validate(
        {
            "run_id": run_id,
            "project": "examples",
            "job": "hello",
            "definition": {"type": "job", "commands": [["sh", "-c", command]]},
            "environment": {"PODIUM_API_URL": "http://api", "PODIUM_TOKEN": TOKEN},
            "secrets": {"DEPLOY_KEY": SECRET},
            "worker": {"id": "w1"},
        }
    )


def files_holding(root: Path, *values: str) -> list[Path]:
    """Every file under `root` that holds one of `values`."""
    return [
        path
        for path in root.rglob("*")
        if path.is_file() and any(value.encode() in path.read_bytes() for value in values)
    ]


@pytest.fixture(params=["launcher", "direct"])
async def runs(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RunSet]:
    """A worker's run set, forking executors through its launcher or starting them directly."""
    runs = RunSet(tmp_path / "home", 65536, 0.2, use_launcher=request.param == "launcher")
    try:
        yield runs
    finally:
        runs.close()


async def test_secrets_reach_the_commands_but_not_the_disk(runs: RunSet, tmp_path: Path) -> None:
    """The secret and the run token are in the command's environment; no file of the worker's
    home holds either (request.json keeps the rest of the request)."""
    run = runs.create(request("run-1", DUMP))
    assert (await finished(run))["status"] == "succeeded"
    workspace = run.dir.path / "workspace"
    assert (workspace / "seen").read_text() == f"{SECRET}|{TOKEN}|http://api"
    (workspace / "seen").unlink()  # the job's own file; the worker's are checked below
    assert files_holding(tmp_path / "home", SECRET, TOKEN) == []
    stored = json.loads((run.dir.path / "request.json").read_text())
    assert "secrets" not in stored and stored["environment"] == {"PODIUM_API_URL": "http://api"}
    assert run.dir.read_request() is not None  # still a valid request (for `request` answers)


async def test_a_direct_start_after_a_silent_launcher_still_gets_the_secrets(tmp_path: Path) -> None:
    """A launcher that took the request and never answered is replaced; the direct start that
    follows reads the same secrets from the kept memory file."""
    runs = RunSet(tmp_path / "home", 65536, 0.2)
    try:
        assert runs.launcher is not None
        runs.launcher.close()
        runs.launcher = Launcher(timeout=0.3)
        runs.launcher.start()
        assert runs.launcher.process is not None
        runs.launcher.process.send_signal(signal.SIGSTOP)
        run = runs.create(request("run-1", DUMP))
        assert (await finished(run))["status"] == "succeeded"
        assert run.process is not None  # the direct start
        assert (run.dir.path / "workspace" / "seen").read_text() == f"{SECRET}|{TOKEN}|http://api"
    finally:
        runs.close()


async def test_a_run_whose_executor_never_started_ends_exception_after_a_restart(tmp_path: Path) -> None:
    """A worker restarted between writing request.json and its executor's start cannot start it
    (the secrets were only in the old worker's memory): the run ends exception, saying why."""
    home = tmp_path / "home"
    RunDirectory(home / "runs" / "run-1").write_request(request("run-1", "true"))
    runs = RunSet(home, 65536, 0.2, use_launcher=False)
    runs.recover()
    sent: list[str] = []

    async def send_text(text: str) -> None:
        sent.append(text)

    async def send_bytes(data: bytes) -> None:
        raise AssertionError("no log was written")

    runs.runs["run-1"].attach(Link(send_text, send_bytes), 0)  # the master's resync
    await until(lambda: sent, what="the final status sent")
    (update,) = [StatusUpdate.model_validate_json(text) for text in sent]
    assert update.state.status == "exception"
    assert update.state.reason == "the worker restarted before the executor started (secrets are never kept on disk)"
    runs.detach_all()


LEAKY = r"""
import base64, json, os, sys, time, urllib.parse
secret = os.environ[sys.argv[1]]
print("whole:", secret, flush=True)
for char in secret.encode():
    sys.stdout.buffer.write(bytes([char]))
    sys.stdout.flush()
    time.sleep(0.01)  # the executor reads each byte on its own
print(flush=True)
for prefix in ("", "a", "ab"):
    print("base64:", base64.b64encode((prefix + secret + "!").encode()).decode(), flush=True)
print("url:", urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret), flush=True)
print("json:", json.dumps({"key": secret}), json.dumps(secret, ensure_ascii=False), flush=True)
print("token:", os.environ.get("PODIUM_TOKEN"), file=sys.stderr, flush=True)
with open(os.environ["PODIUM_RESULTS"], "w") as file:
    json.dump({"copy": secret, secret: "as a key", "program": secret}, file)
"""
"""A job that prints the variable named by its argument in every form the masker knows."""
LEAKY_TEMPLATE = LEAKY.replace("{", "{{").replace("}", "}}")
"""`LEAKY` as a command's argument (a template: braces doubled)."""
HOSTILE = 'it is "quoted"/with+plus & é\\ 42'


def assert_masked(data: bytes, *values: str) -> None:
    """No value (nor any form of it) is in `data`."""
    from podium_worker.masking import forms

    for value in values:
        leaked = [form for form in forms(value) if form in data]
        assert not leaked, (leaked, data)


async def test_every_form_of_a_secret_is_masked_in_log_results_and_reason(tmp_path: Path) -> None:
    """A job printing a secret whole, byte by byte, in base64 at three alignments, URL-encoded and
    JSON-escaped, and the run token, leaves only [masked] in the log; its results and the failure
    reason (the secret used as a program name) are masked too."""
    import sys

    runs = RunSet(tmp_path / "home", 65536, 0.2)
    try:
        req = request("run-1", "true")
        req.secrets = {"DEPLOY_KEY": HOSTILE}
        req.definition.commands = [[sys.executable, "-c", LEAKY_TEMPLATE, "DEPLOY_KEY"], ["{results.program}"]]
        run = runs.create(req)
        final = await finished(run)
    finally:
        runs.close()
    log = (run.dir.path / "log").read_bytes()
    assert_masked(log, HOSTILE, TOKEN)
    assert log.count(b"[masked]") >= 10, log
    assert b"whole: [masked]\n" in log and b"token: [masked]\n" in log
    assert final["status"] == "exception"
    assert final["reason"] == "command 2: cannot start '[masked]': No such file or directory", final
    assert final["results"] == {"copy": "[masked]", "[masked]": "as a key", "program": "[masked]"}
    for path in run.dir.path.iterdir():  # but results.json: the job's own file, as it wrote it
        if path.is_file() and path.name != "results.json":
            assert_masked(path.read_bytes(), HOSTILE, TOKEN)
