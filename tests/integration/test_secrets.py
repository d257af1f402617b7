"""Project secrets end to end through the real processes: apply-time checks, dispatch, deletion."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.stack import Stack, admin

VALUE = "integration-secret-value-7f3a"
PLAIN = {"id": "plain", "definition": {"type": "job", "commands": [["true"]]}}
# The job compares its secret with a file the test wrote: the value never has to be printed.
USES = {
    "id": "uses",
    "parameters": [{"key": "expected"}],
    "definition": {
        "type": "job",
        "secrets": ["DEPLOY_KEY"],
        "commands": [["sh", "-c", 'test "$DEPLOY_KEY" = "$(cat "$0")"', "{parameters.expected}"]],
    },
}


def _apply(stack: Stack, *jobs: dict[str, Any]) -> httpx.Response:
    return stack.client.put("/admin/configuration", json={"projects": [{"id": "vault", "jobs": list(jobs)}]})


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """master, api and one worker on SQLite, with no configuration file (applied over HTTP)."""
    directory = tmp_path_factory.mktemp("secrets-stack")
    running = Stack(directory, f"sqlite+aiosqlite:///{directory}/podium.db")
    try:
        running.start(workers=1)
        yield running
    finally:
        running.stop()


def test_a_job_gets_its_secret_and_loses_it_when_deleted(stack: Stack, tmp_path: Path) -> None:
    """Apply refuses a job naming a missing secret; once set, its commands see it; deleted, runs end exception."""
    answers: list[httpx.Response] = [_apply(stack, PLAIN)]
    assert answers[-1].status_code == 200, answers[-1].text
    refused = _apply(stack, PLAIN, USES, {**PLAIN, "id": "extra"})
    answers.append(refused)
    assert refused.status_code == 422, refused.text
    assert "DEPLOY_KEY" in refused.json()["detail"] and "vault" in refused.json()["detail"]
    assert [job["id"] for job in stack.client.get("/projects/vault/jobs").json()] == ["plain"]  # nothing applied

    answers.append(stack.client.put("/projects/vault/secrets/DEPLOY_KEY", json={"value": VALUE}))
    assert answers[-1].status_code == 200, answers[-1].text
    answers.append(_apply(stack, PLAIN, USES))
    assert answers[-1].status_code == 200, answers[-1].text
    expected = tmp_path / "expected"
    expected.write_text(VALUE)
    run = stack.trigger("vault", "uses", expected=str(expected))
    done = stack.wait_run("vault", run["id"], timeout=60)
    assert done["status"] == "succeeded", (done, stack.outputs())

    answers.append(stack.client.delete("/projects/vault/secrets/DEPLOY_KEY"))
    assert answers[-1].status_code == 204
    orphan = stack.trigger("vault", "uses", expected=str(expected))
    ended = stack.wait_run("vault", orphan["id"], timeout=60)
    assert ended["status"] == "exception" and "DEPLOY_KEY" in ended["reason"], ended

    for path in ("/projects/vault/jobs/uses", f"/projects/vault/runs/{run['id']}", "/projects/vault/runs", "/audit"):
        answers.append(stack.client.get(path))
    answers.append(stack.client.get(f"/projects/vault/runs/{run['id']}/log"))
    export = tmp_path / "export.jsonl"
    admin(stack.database_url, "export", str(export), "--logs", str(stack.log_dir))
    for answer in answers:
        assert VALUE not in answer.text, answer.request.url
    assert VALUE not in export.read_text()
    assert VALUE not in stack.outputs()
