"""Controller jobs (issue 6): a run's commands drive other runs with the `podium` CLI and the run
token they receive as `PODIUM_TOKEN`, which dies with the run and never leaves its project."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from podium_storage.auth import mint_run_token, parse_run_token
from tests.conftest import DATABASES
from tests.databases import fresh_database
from tests.stack import Stack

CONTROLLER = """\
import json, os, subprocess, sys

token_file = sys.argv[1]
with open(token_file, "w") as file:
    file.write(os.environ["PODIUM_TOKEN"])
children = []
for name in ("one", "two"):
    argv = [sys.executable, "-m", "podium_client.cli", "trigger", os.environ["PODIUM_PROJECT"], "hello",
            "-p", "name=" + name, "--wait", "--json"]
    answer = subprocess.run(argv, capture_output=True, text=True, check=True)
    run = json.loads(answer.stdout)
    children.append(dict(id=run["id"], status=run["status"]))
with open(os.environ["PODIUM_RESULTS"], "w") as file:
    json.dump(dict(children=children), file)
"""


def _config(directory: Path) -> Path:
    """Project `ctl` (a controller and the job it triggers) and project `other`, as JSON (valid YAML)."""
    script = directory / "controller.py"
    script.write_text(CONTROLLER)
    hello = {
        "id": "hello",
        "parameters": [{"key": "name", "default": "world"}],
        "definition": {"type": "job", "commands": [["echo", "hello {parameters.name}"]]},
    }
    controller = {
        "id": "controller",
        "parameters": [{"key": "token_file", "required": True}],
        "definition": {"type": "job", "commands": [[sys.executable, str(script), "{parameters.token_file}"]]},
    }
    parked = {**hello, "id": "parked", "properties": {"pool": "nowhere"}}
    projects = [{"id": "ctl", "jobs": [controller, hello, parked]}, {"id": "other", "jobs": [hello]}]
    path = directory / "controller.yaml"
    path.write_text(json.dumps({"projects": projects}))
    return path


@pytest.fixture(scope="module", params=DATABASES)
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """master, api and one worker with the controller configuration, once per database."""
    directory = tmp_path_factory.mktemp(f"controller-{request.param}")
    with fresh_database(request.param, directory) as url:
        running = Stack(directory, url, config=_config(directory))
        try:
            running.start(workers=1)
            yield running
        finally:
            running.stop()


def test_run_tokens_are_signed_for_one_run() -> None:
    """A minted token parses back to its run; a tampered one or another secret gives None."""
    token = mint_run_token("secret", "run-1")
    assert parse_run_token("secret", token) == "run-1"
    assert parse_run_token("other", token) is None
    assert parse_run_token("secret", token[:-2] + ("AA" if token[-2:] != "AA" else "BB")) is None
    assert parse_run_token("secret", token.replace("run-1", "run-2")) is None
    assert parse_run_token("", token) is None
    assert parse_run_token("secret", "podium-run.") is None
    assert parse_run_token("secret", "plain-token") is None
    with pytest.raises(ValueError):
        mint_run_token("", "run-1")


def test_controller_triggers_and_waits_for_two_runs(stack: Stack, tmp_path: Path) -> None:
    """The controller's two CLI-triggered runs record it as their source; its token dies with it."""
    token_file = tmp_path / "token"
    controller = stack.trigger("ctl", "controller", token_file=str(token_file))

    done = stack.wait_run("ctl", controller["id"], timeout=60)

    assert done["status"] == "succeeded", stack.outputs()
    children = done["results"]["children"]
    assert [child["status"] for child in children] == ["succeeded", "succeeded"]
    for child in children:
        source = stack.run("ctl", child["id"])["source"]
        assert (source["type"], source["run"], source["user"]) == ("api", controller["id"], None)
    token = token_file.read_text()
    assert parse_run_token(stack.secret, token) == controller["id"]
    with httpx.Client(base_url=f"{stack.api_url}/api/v1", timeout=10) as client:
        refused = client.get("/projects/ctl/jobs", headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 401, refused.text
        basic = client.get("/projects/ctl/jobs", auth=("anyone", token))
        assert basic.status_code == 401, basic.text


def test_run_token_stays_in_its_project(stack: Stack) -> None:
    """While its run lives, a run token reads and triggers in its project only (403 elsewhere).

    The worker's own token, with the `worker` role, gets 403 on every operation of the public API.
    """
    parked = stack.trigger("ctl", "parked")  # no worker has `pool=nowhere`: it stays pending, alive
    token = mint_run_token(stack.secret, parked["id"])
    bearer = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=f"{stack.api_url}/api/v1", headers=bearer, timeout=10) as client:
        assert client.get("/projects/ctl/jobs").status_code == 200
        assert client.get(f"/projects/ctl/runs/{parked['id']}").status_code == 200
        for path in ("/projects/other/jobs", "/projects", "/workers", "/me", "/users"):
            answer = client.get(path)
            assert answer.status_code == 403, (path, answer.text)
            assert answer.headers["content-type"].startswith("application/problem+json")
        assert client.post("/projects/other/jobs/hello/runs", json={}).status_code == 403
        assert client.post(f"/projects/ctl/runs/{parked['id']}/cancel").status_code == 403  # operate: not granted
        assert client.get("/projects/ctl/jobs", headers={"Authorization": f"Bearer {token}x"}).status_code == 401
        worker = {"Authorization": f"Bearer {stack.worker_token}"}  # a worker's credential: the websocket only
        for path in ("/projects", "/projects/ctl/jobs", "/me"):
            assert client.get(path, headers=worker).status_code == 403, path
        assert client.post("/projects/ctl/jobs/hello/runs", json={}, headers=worker).status_code == 403

        assert stack.client.post(f"/projects/ctl/runs/{parked['id']}/cancel").status_code == 200
        stack.wait_run("ctl", parked["id"])
        assert client.get("/projects/ctl/jobs").status_code == 401
