"""Webhooks in, through the real processes: a signed request starts a run with its mapped parameters."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.stack import Stack

SECRET = "webhook-secret-value-31c9"
BUILD = {
    "id": "build",
    "parameters": [{"key": "commit", "required": True}, {"key": "branch"}],
    "triggers": [
        {
            "type": "webhook",
            "id": "github-push",
            "secret": "GITHUB_HOOK",
            "parameters": {"commit": "{payload.head_commit.id}", "branch": "{payload.ref}"},
        }
    ],
    "definition": {
        "type": "job",
        "commands": [["sh", "-c", 'echo "commit=$PODIUM_PARAM_COMMIT"; echo; cat "$PODIUM_PAYLOAD"']],
    },
}
PUSH = {"ref": "refs/heads/main", "head_commit": {"id": "5b1e0c9", "message": "Fix"}, "repository": {"name": "x"}}


def _signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={signature}", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """master, api and one worker on SQLite, with a project whose job declares a webhook."""
    directory = tmp_path_factory.mktemp("webhooks-in")
    running = Stack(directory, f"sqlite+aiosqlite:///{directory}/podium.db")
    try:
        running.start(workers=1)
        client = running.client
        assert client.put("/admin/configuration", json={"projects": [{"id": "hooks"}]}).status_code == 200
        assert client.put("/projects/hooks/secrets/GITHUB_HOOK", json={"value": SECRET}).status_code == 200
        answer = client.put("/admin/configuration", json={"projects": [{"id": "hooks", "jobs": [BUILD]}]})
        assert answer.status_code == 200, answer.text
        yield running
    finally:
        running.stop()


def _call(stack: Stack, body: bytes, headers: dict[str, str], trigger: str = "github-push") -> httpx.Response:
    # No session: a plain client, not the administrator's.
    return httpx.post(f"{stack.api_url}/api/v1/hooks/hooks/{trigger}", content=body, headers=headers, timeout=10)


def _runs(stack: Stack) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = stack.client.get("/projects/hooks/runs", params={"job": "build"}).json()["items"]
    return items


def test_a_signed_push_starts_a_run_with_the_mapped_parameters(stack: Stack) -> None:
    """The run gets the commit and branch from the body, and the body itself as PODIUM_PAYLOAD."""
    body = json.dumps(PUSH).encode()
    answer = _call(stack, body, _signed(body))
    assert answer.status_code == 201, answer.text
    run = answer.json()
    assert (run["source"]["type"], run["source"]["trigger"]) == ("webhook", "github-push")
    assert run["parameters"] == {"commit": "5b1e0c9", "branch": "refs/heads/main"}
    done = stack.wait_run("hooks", run["id"], timeout=60)
    assert done["status"] == "succeeded", (done, stack.outputs())
    log = stack.log("hooks", run["id"]).decode()
    head, _, payload = log.partition("\n\n")
    assert head == "commit=5b1e0c9"
    assert json.loads(payload) == PUSH


def test_the_secret_as_bearer_token_is_accepted(stack: Stack) -> None:
    """Senders that cannot sign may send the secret itself."""
    body = json.dumps(PUSH).encode()
    answer = _call(stack, body, {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"})
    assert answer.status_code == 201, answer.text
    assert stack.wait_run("hooks", answer.json()["id"], timeout=60)["status"] == "succeeded"


def test_a_bad_signature_is_refused_and_starts_nothing(stack: Stack) -> None:
    """Signed with another secret, signed over another body, unsigned, a wrong token: 401, no run."""
    before = len(_runs(stack))
    body = json.dumps(PUSH).encode()
    for headers in (
        _signed(body, "another-secret-0000"),
        _signed(body + b" "),
        {"Content-Type": "application/json"},
        {"Authorization": "Bearer not-the-secret"},
    ):
        answer = _call(stack, body, headers)
        assert answer.status_code == 401, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
    assert len(_runs(stack)) == before


def test_a_missing_field_is_named(stack: Stack) -> None:
    """A body without the field a parameter reads: 422 naming it, no run."""
    before = len(_runs(stack))
    body = json.dumps({"ref": "refs/heads/main"}).encode()
    answer = _call(stack, body, _signed(body))
    assert answer.status_code == 422, answer.text
    assert "payload.head_commit.id" in answer.json()["detail"]
    not_json = b"ref=main"
    assert _call(stack, not_json, _signed(not_json)).status_code == 422
    assert len(_runs(stack)) == before


def test_unknown_hooks_and_large_bodies(stack: Stack) -> None:
    """An unknown trigger or project: the same 404; a body over the limit: 413."""
    body = json.dumps(PUSH).encode()
    assert _call(stack, body, _signed(body), trigger="nope").status_code == 404
    other = httpx.post(f"{stack.api_url}/api/v1/hooks/nowhere/github-push", content=body, headers=_signed(body))
    assert other.status_code == 404
    large = b'"' + b"x" * (1024 * 1024) + b'"'
    assert _call(stack, large, _signed(large)).status_code == 413
