"""What a job can see of its worker, with master, api, worker and executor as real processes."""

from __future__ import annotations

import io
import json
import os
import pwd
import shutil
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from podium_storage.auth import mint_run_token
from tests.databases import sqlite_url
from tests.stack import ADMIN_PASSWORD, Stack
from tests.support import Service
from tests.worker.test_secrets import LEAKY_TEMPLATE, assert_masked

# `sh -c` so that no Python start is paid per run; the job walks up its parents through /proc
# (braces doubled: the command is a template).
WALK = (
    'env; pid=$$; while [ "$pid" -gt 1 ]; do'
    " echo \"== $pid\"; tr '\\0' '\\n' < /proc/$pid/environ; tr '\\0' ' ' < /proc/$pid/cmdline; echo;"
    " pid=$(awk '/^PPid:/ {{print $2}}' /proc/$pid/status); done"
)
LEAK = [sys.executable, "-c", LEAKY_TEMPLATE, "PODIUM_TOKEN"]
LEAK_SECRET = [[sys.executable, "-c", LEAKY_TEMPLATE, "DEPLOY_KEY"], ["{results.program}"]]
CONFIG = f"""
projects:
  - id: iso
    jobs:
      - id: environ
        definition: {{type: job, commands: [["sh", "-c", {json.dumps(WALK)}]]}}
      - id: probe
        parameters: [{{key: path}}]
        definition:
          type: job
          commands:
            - ["sh", "-c", "id -u; cat \\"$PODIUM_PARAM_PATH\\" || echo denied"]
            - ["sh", "-c", "echo '{{{{\\"ok\\": true}}}}' > \\"$PODIUM_RESULTS\\""]
            - ["sh", "-c", {json.dumps(WALK)}]
      - id: leak
        definition: {{type: job, commands: [{json.dumps(LEAK)}, ["{{results.program}}"]]}}
"""


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """SQLite only: what a job sees is the worker's business, the same on every database."""
    yield sqlite_url(tmp_path)


@pytest.fixture
def stack(tmp_path: Path, database_url: str) -> Iterator[Stack]:
    """Master and api with the `iso` project; the workers start in the tests."""
    config = tmp_path / "podium.yaml"
    config.write_text(CONFIG)
    stack = Stack(tmp_path, database_url, config)
    stack.prepare()
    stack.start_master()
    stack.start_api()
    try:
        yield stack
    finally:
        stack.stop()


def start_worker(
    stack: Stack, worker_id: str, *extra: str, env: dict[str, str] | None = None, home: Path | None = None
) -> Service:
    """A worker with extra flags and environment; it is stopped with the stack."""
    argv = [
        "podium-worker",
        "--master", f"ws://127.0.0.1:{stack.master_port}/ws/worker",
        "--id", worker_id,
        "--user", "workers",
        "--home", str(home or stack.directory / f"worker-{worker_id}"),
        *extra,
    ]  # fmt: skip
    service = Service(f"worker-{worker_id}", argv, env=env, output_dir=stack.directory).start()
    stack.workers[worker_id] = service
    return service


def run_log(stack: Stack, job: str, **parameters: str) -> bytes:
    """Trigger `job` of project iso, wait for it to succeed and return its stored log."""
    return finished_run(stack, job, **parameters)[1]


def finished_run(stack: Stack, job: str, **parameters: str) -> tuple[dict[str, Any], bytes]:
    """Trigger `job` of project iso, wait for it to succeed; return the run and its stored log."""
    run = stack.trigger("iso", job, **parameters)
    done = stack.wait_run("iso", run["id"], timeout=60)
    assert done["status"] == "succeeded", (done, stack.outputs())
    return done, stack.log("iso", run["id"])


def test_a_job_sees_none_of_the_workers_environment(stack: Stack) -> None:
    """A worker holding an administrator password, its token (from the environment) and other
    variables gives its jobs none of them; a --pass-env variable is let through."""
    env = {
        "PODIUM_WORKER_TOKEN": stack.worker_token,
        "PODIUM_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "PODIUM_CONTROL_SECRET": stack.secret,
        "SOME_OPERATOR_VARIABLE": "operator-value",
        "SHARED_WITH_JOBS": "shared-value",
    }
    start_worker(stack, "w1", "--pass-env", "SHARED_WITH_JOBS", env=env)
    log = run_log(stack, "environ")
    job_env = log.split(b"\n== ", 1)[0]
    assert b"SHARED_WITH_JOBS=shared-value" in job_env
    for name in ("PODIUM_WORKER_TOKEN", "PODIUM_ADMIN_PASSWORD", "PODIUM_CONTROL_SECRET", "SOME_OPERATOR_VARIABLE"):
        assert name.encode() not in job_env, job_env
    assert b"PODIUM_TOKEN=" in job_env  # the run's own token, for controller jobs


def test_the_run_token_is_masked_in_log_stream_archive_results_and_reason(stack: Stack) -> None:
    """A job printing its run token whole, byte by byte, base64-encoded at three alignments,
    URL-encoded and JSON-escaped, then failing on it as a program name, shows only [masked] in
    the stored log, the live stream, the archive, the results and the failure reason."""
    start_worker(stack, "w1", "--token-file", str(stack.worker_token_file))
    run = stack.trigger("iso", "leak")
    leaked_only_as_masks(stack, run["id"], mint_run_token(stack.secret, run["id"]))


def test_a_project_secret_is_masked_in_log_stream_archive_results_and_reason(stack: Stack) -> None:
    """The same for a project secret the master puts into the execute message (one that needs
    URL, JSON and repr escaping), and none of its forms is in any file of the worker's home."""
    from tests.worker.test_secrets import HOSTILE

    answer = stack.client.put("/projects/iso/secrets/DEPLOY_KEY", json={"value": HOSTILE})
    assert answer.status_code == 200, answer.text
    configuration = yaml.safe_load(CONFIG)
    leak = {"id": "leak-secret", "definition": {"type": "job", "secrets": ["DEPLOY_KEY"], "commands": LEAK_SECRET}}
    configuration["projects"][0]["jobs"].append(leak)
    answer = stack.client.put("/admin/configuration", json=configuration)
    assert answer.status_code == 200, answer.text
    home = stack.directory / "worker-w1"
    start_worker(stack, "w1", "--token-file", str(stack.worker_token_file), home=home)
    run = stack.trigger("iso", "leak-secret")
    leaked_only_as_masks(stack, run["id"], HOSTILE)
    for path in home.rglob("*"):
        if path.is_file():
            assert_masked(path.read_bytes(), HOSTILE)


def leaked_only_as_masks(stack: Stack, run_id: str, value: str) -> None:
    """The `leak` job's run shows `value` only as [masked], wherever the run can be read."""
    path = f"/projects/iso/runs/{run_id}"
    with stack.client.stream("GET", f"{path}/log/stream", timeout=60) as response:
        live = b"".join(response.iter_bytes())  # until the `end` event: the run is final
    done = stack.wait_run("iso", run_id, timeout=60)
    log = stack.log("iso", run_id)
    archive = stack.client.get(f"{path}/archive").content
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]
    assert done["status"] == "exception", (done, stack.outputs())
    assert done["reason"].startswith("command 2: cannot start '[masked]': "), done
    assert done["results"] == {"copy": "[masked]", "[masked]": "as a key", "program": "[masked]"}
    assert log.count(b"[masked]") >= 10 and b"whole: [masked]\n" in log, log
    assert b"[masked]" in live and any(name.endswith("log.txt") for name in members), members
    for data in (log, live, archive, *members.values(), json.dumps(done).encode()):
        assert_masked(data, value)


def test_no_parent_of_a_job_shows_a_secret_in_its_command_line_or_environment(stack: Stack) -> None:
    """A worker given its token on the command line and secrets in its environment starts itself
    again without them: a job walking /proc up its parents (executor, launcher, worker) reads no
    token, password or control secret, and neither does `ps` (the worker's own /proc entries)."""
    env = {"PODIUM_ADMIN_PASSWORD": ADMIN_PASSWORD, "PODIUM_CONTROL_SECRET": stack.secret}
    worker = start_worker(stack, "w1", "--token", stack.worker_token, env=env)
    log = run_log(stack, "environ")
    assert log.count(b"\n== ") >= 3, log  # the command, its executor, the launcher, the worker...
    assert worker.process is not None
    proc = Path(f"/proc/{worker.process.pid}")
    own = proc.joinpath("cmdline").read_bytes() + proc.joinpath("environ").read_bytes()
    assert b"--token-file\0/proc/self/fd/" in own
    for data in (log, own):
        for secret in (stack.worker_token, ADMIN_PASSWORD, stack.secret):
            assert secret.encode() not in data
    assert "restarting without secrets in the command line or environment" in worker.output


def test_a_token_file_readable_by_others_is_warned_about(stack: Stack) -> None:
    """--token-file works, and a file other users may read gets a warning naming the fix."""
    path = stack.directory / "open-token"
    path.write_text(stack.worker_token + "\n")
    path.chmod(0o644)
    worker = start_worker(stack, "w1", "--token-file", str(path))
    assert run_log(stack, "environ")
    assert f"the token file {path} may be read by other users: make it mode 0600" in worker.output
    assert "restarting" not in worker.output


@pytest.mark.skipif(os.geteuid() != 0, reason="--run-as needs a worker started as root")
def test_under_run_as_a_job_reads_nothing_of_its_worker(stack: Stack) -> None:
    """A root worker with --run-as nobody and its token in a 0600 file in its home: the job runs as
    nobody, cannot read the token file nor its parents' environments, and its log and results
    still reach the master."""
    home = Path(tempfile.mkdtemp(prefix="podium-runas-"))
    try:
        home.chmod(0o711)
        token = home / "token"
        token.write_text(stack.worker_token)
        token.chmod(0o600)
        start_worker(stack, "w1", "--run-as", "nobody", "--token-file", str(token), home=home)
        done, log = finished_run(stack, "probe", path=str(token))
    finally:
        shutil.rmtree(home)
    assert log.startswith(f"{pwd.getpwnam('nobody').pw_uid}\n".encode()), log
    assert b"Permission denied" in log and b"\ndenied\n" in log
    assert stack.worker_token.encode() not in log
    assert done["results"] == {"ok": True}
