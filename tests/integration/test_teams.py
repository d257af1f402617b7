"""Two teams on one Podium: each sees and touches only its own project (real processes).

Project `alpha` belongs to team A (group `team-a`: viewer `ann`; `oscar` operates it), project
`beta` to team B (viewer `bob`). Everything is set up over the API by the administrator, as an
operator of the installation would.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.databases import fresh_database
from tests.stack import Stack
from tests.support import wait_until

CONFIG = """
projects:
  - id: alpha
    jobs:
      - {id: hello, definition: {type: job, commands: [["echo", "hello alpha"]]}}
  - id: beta
    jobs:
      - {id: hello, definition: {type: job, commands: [["echo", "hello beta"]]}}
"""


@pytest.fixture(scope="module")
def teams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, dict[str, httpx.Client]]]:
    """The stack with both teams set up, and a client per user (admin, ann, bob, oscar)."""
    directory = tmp_path_factory.mktemp("teams")
    (directory / "podium.yaml").write_text(CONFIG)
    with fresh_database("sqlite", directory) as url:
        stack = Stack(directory, url, config=directory / "podium.yaml").start(workers=1)
        clients: dict[str, httpx.Client] = {}
        try:
            admin = stack.client
            for user in ("ann", "bob", "oscar"):
                assert admin.post("/users", json={"id": user}).status_code == 201
            assert admin.put("/groups/team-a", json={"members": ["ann"]}).status_code == 200
            assert admin.put("/projects/alpha/access/groups/team-a", json={"role": "viewer"}).status_code == 200
            assert admin.put("/projects/alpha/access/users/oscar", json={"role": "operator"}).status_code == 200
            assert admin.put("/projects/beta/access/users/bob", json={"role": "viewer"}).status_code == 200
            clients["admin"] = admin
            for user in ("ann", "bob", "oscar"):
                clients[user] = _client(stack, _token(stack, user))
            yield stack, clients
        finally:
            for user, client in clients.items():
                if user != "admin":
                    client.close()
            stack.stop()


def _token(stack: Stack, user: str, **narrowing: Any) -> str:
    response = stack.client.post(f"/users/{user}/tokens", json={"description": "test", **narrowing})
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def _client(stack: Stack, token: str) -> httpx.Client:
    return httpx.Client(base_url=f"{stack.api_url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=10)


class _Events:
    """A thread following `/events` with one client, keeping the runs it receives."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.runs: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.opened = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._follow, daemon=True)
        self.thread.start()

    def _follow(self) -> None:
        try:
            with self.client.stream("GET", "/events", timeout=httpx.Timeout(10, read=60)) as response:
                assert response.status_code == 200
                self.opened.set()
                event = ""
                for line in response.iter_lines():
                    if self.stop.is_set():
                        return
                    if line.startswith("event: "):
                        event = line.removeprefix("event: ")
                    elif line.startswith("data: ") and event == "run":
                        run = json.loads(line.removeprefix("data: "))
                        with self.lock:
                            self.runs[run["id"]] = run
        except httpx.HTTPError:
            return  # closed by the test

    def status(self, run_id: str) -> str | None:
        with self.lock:
            run = self.runs.get(run_id)
        return None if run is None else str(run["status"])

    def projects(self) -> set[str]:
        with self.lock:
            return {run["project"] for run in self.runs.values()}


def test_each_team_lists_and_reads_only_its_project(teams: tuple[Stack, dict[str, httpx.Client]]) -> None:
    """A team's viewer lists only its project; the other project's run, log, archive and secrets answer 404."""
    stack, clients = teams
    beta_run = stack.trigger("beta", "hello")
    stack.wait_run("beta", beta_run["id"])
    ann, bob = clients["ann"], clients["bob"]
    secret = {"value": "beta-deploy-key-value"}
    assert clients["admin"].put("/projects/beta/secrets/DEPLOY_KEY", json=secret).status_code == 200
    assert [p["id"] for p in ann.get("/projects").json()] == ["alpha"]
    assert [p["id"] for p in bob.get("/projects").json()] == ["beta"]
    for path in (
        "/projects/beta",
        "/projects/beta/jobs",
        "/projects/beta/jobs/hello",
        "/projects/beta/runs",
        f"/projects/beta/runs/{beta_run['id']}",
        f"/projects/beta/runs/{beta_run['id']}/log",
        f"/projects/beta/runs/{beta_run['id']}/results",
        f"/projects/beta/runs/{beta_run['id']}/archive",
        f"/projects/beta/runs/{beta_run['id']}/log/stream",
        "/projects/beta/schedules",
        "/projects/beta/access",
        "/projects/beta/secrets",
        "/projects/nowhere",
    ):
        answer = ann.get(path)
        assert answer.status_code == 404, (path, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
    assert bob.get(f"/projects/beta/runs/{beta_run['id']}/log").content == b"hello beta\n"
    assert [item["name"] for item in bob.get("/projects/beta/secrets").json()["items"]] == ["DEPLOY_KEY"]
    assert ann.put("/projects/beta/secrets/DEPLOY_KEY", json=secret).status_code == 404
    assert bob.put("/projects/beta/secrets/DEPLOY_KEY", json=secret).status_code == 403  # a viewer: names only
    # Seen but not allowed: 403, not 404.
    assert ann.post("/projects/alpha/jobs/hello/runs", json={}).status_code == 403
    assert ann.get("/users").status_code == 403
    mine = ann.get("/me/access").json()
    assert mine["projects"] == {"alpha": ["read"]}


def test_grants_and_groups_are_audited(teams: tuple[Stack, dict[str, httpx.Client]]) -> None:
    """The set-up's group and grants, and a revocation, are entries of the audit log."""
    stack, clients = teams
    admin = clients["admin"]
    assert admin.put("/projects/beta/access/users/ann", json={"role": "viewer"}).status_code == 200
    assert admin.delete("/projects/beta/access/users/ann").status_code == 204
    assert admin.delete("/projects/beta/access/users/ann").status_code == 404
    entries = admin.get("/audit", params={"limit": 500}).json()["items"]
    seen = {(entry["action"], entry["target"]) for entry in entries if entry["actor"] == "admin"}
    assert {
        ("group.put", "group/team-a"),
        ("grant.put", "project/alpha/group/team-a"),
        ("grant.put", "project/beta/user/bob"),
        ("grant.put", "project/beta/user/ann"),
        ("grant.delete", "project/beta/user/ann"),
    } <= seen
    assert clients["ann"].get("/audit").status_code == 403


def test_events_carry_only_the_projects_a_user_sees(teams: tuple[Stack, dict[str, httpx.Client]]) -> None:
    """Over a stream that sees both projects' runs happen, a team's stream carries only its project's."""
    stack, clients = teams
    everything, ann = _Events(clients["admin"]), _Events(_client(stack, _token(stack, "ann")))
    try:
        assert everything.opened.wait(20) and ann.opened.wait(20)
        alpha_run, beta_run = stack.trigger("alpha", "hello"), stack.trigger("beta", "hello")
        for run in (alpha_run, beta_run):
            wait_until(lambda run=run: everything.status(run["id"]) == "succeeded", 30, f"{run['id']} seen")
        wait_until(lambda: ann.status(alpha_run["id"]) == "succeeded", 30, "alpha's run seen by ann")
        assert ann.status(beta_run["id"]) is None
        assert ann.projects() == {"alpha"} and everything.projects() >= {"alpha", "beta"}
    finally:
        for stream in (everything, ann):
            stream.stop.set()
        ann.client.close()


def test_operator_triggers_in_own_project_only(teams: tuple[Stack, dict[str, httpx.Client]]) -> None:
    """An operator of alpha triggers and cancels in alpha; beta's job answers 404 to them."""
    stack, clients = teams
    oscar = clients["oscar"]
    created = oscar.post("/projects/alpha/jobs/hello/runs", json={})
    assert created.status_code == 201, created.text
    assert stack.wait_run("alpha", created.json()["id"])["status"] == "succeeded"
    assert oscar.post("/projects/beta/jobs/hello/runs", json={}).status_code == 404
    assert oscar.get("/projects/beta/jobs/hello").status_code == 404
    assert oscar.put("/projects/alpha/access/users/oscar", json={"role": "maintainer"}).status_code == 403


def test_token_narrowed_to_trigger_triggers_but_does_not_read(teams: tuple[Stack, dict[str, httpx.Client]]) -> None:
    """A CI token narrowed to trigger in alpha triggers there and is refused reading alpha's runs."""
    stack, _ = teams
    with _client(stack, _token(stack, "oscar", projects=["alpha"], operations=["trigger"])) as ci:
        created = ci.post("/projects/alpha/jobs/hello/runs", json={})
        assert created.status_code == 201, created.text
        assert ci.get(f"/projects/alpha/runs/{created.json()['id']}").status_code == 403
        assert ci.get("/projects/alpha/runs").status_code == 403
        assert ci.get("/projects").status_code == 403
        assert ci.post("/projects/beta/jobs/hello/runs", json={}).status_code == 403
        # It cannot mint itself a wider token.
        assert ci.post("/me/tokens", json={"operations": ["read"]}).status_code == 403
        narrower = ci.post("/me/tokens", json={}).json()["credential"]
        assert narrower["projects"] == ["alpha"] and narrower["operations"] == ["trigger"]
    with _client(stack, _token(stack, "oscar", projects=["alpha"])) as reader:
        assert [p["id"] for p in reader.get("/projects").json()] == ["alpha"]
        assert reader.get("/projects/beta").status_code == 404
        assert reader.get("/projects/alpha/runs").status_code == 200
    stack.wait_run("alpha", created.json()["id"])


def test_maintainer_applies_only_their_projects(teams: tuple[Stack, dict[str, httpx.Client]], tmp_path: Path) -> None:
    """A maintainer of alpha applies alpha's part of a configuration and cannot touch beta's."""
    stack, clients = teams
    admin = clients["admin"]
    assert admin.post("/users", json={"id": "maya"}).status_code == 201
    assert admin.put("/projects/alpha/access/users/maya", json={"role": "maintainer"}).status_code == 200
    with _client(stack, _token(stack, "maya")) as maya:
        alpha = {"id": "alpha", "jobs": [{"id": "hello", "definition": {"type": "job", "commands": [["echo", "a"]]}}]}
        beta = {"id": "beta", "jobs": [{"id": "hello", "definition": {"type": "job", "commands": [["echo", "b"]]}}]}
        assert maya.put("/projects/alpha/secrets/TOKEN", json={"value": "alpha-token-value"}).status_code == 200
        assert maya.put("/projects/beta/secrets/TOKEN", json={"value": "alpha-token-value"}).status_code == 404
        applied = maya.put("/admin/configuration", json={"projects": [alpha]})
        assert applied.status_code == 200, applied.text
        assert [(c["kind"], c["id"]) for c in applied.json()["changes"]] == [("job", "hello")]
        refused = maya.put("/admin/configuration", json={"projects": [alpha, beta]})
        assert refused.status_code == 403, refused.text
        fresh = maya.put("/admin/configuration", json={"projects": [{"id": "gamma"}]})
        assert fresh.status_code == 403, fresh.text  # creating a project is the administrators'
    assert admin.get("/projects/beta/jobs/hello").json()["definition"]["commands"] == [["echo", "hello beta"]]
    assert admin.get("/projects/gamma").status_code == 404
