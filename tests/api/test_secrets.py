"""Project secrets through the api: set, list, delete; the value never comes back out."""

from __future__ import annotations

import logging

import pytest

from podium_api.app import create_app
from podium_storage.sealing import SecretsKeys
from tests.api.conftest import Api, serve

VALUE = "s3cr3t-value-never-answered"


async def test_set_list_delete_never_answers_the_value(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    """Maintainers set and delete, readers list names and dates; no answer or log line holds the value."""
    caplog.set_level(logging.DEBUG)
    answers = []
    put = await api.client.put(
        "/api/v1/projects/demo/secrets/DEPLOY_KEY", json={"value": VALUE}, headers=api.auth("admin")
    )
    answers.append(put)
    assert put.status_code == 200, put.text
    assert put.json()["name"] == "DEPLOY_KEY" and set(put.json()) == {"name", "created_at", "updated_at"}
    again = await api.client.put(
        "/api/v1/projects/demo/secrets/DEPLOY_KEY", json={"value": VALUE + "-2"}, headers=api.auth("admin")
    )
    answers.append(again)
    assert again.json()["created_at"] == put.json()["created_at"]
    listed = await api.client.get("/api/v1/projects/demo/secrets", headers=api.auth("viewer"))
    answers.append(listed)
    assert listed.status_code == 200 and listed.json() == {"items": [again.json()]}
    sealed = (await api.storage.get_sealed_secrets("demo", ["DEPLOY_KEY"]))["DEPLOY_KEY"]
    assert VALUE not in sealed
    keys = SecretsKeys.parse(api.settings.secrets_key.get_secret_value())
    assert keys.open("demo", "DEPLOY_KEY", sealed) == VALUE + "-2"
    for path in ("/api/v1/projects/demo", "/api/v1/projects/demo/jobs", "/api/v1/admin/configuration"):
        answers.append(await api.client.get(path, headers=api.auth("admin")))
    viewer_put = await api.client.put(
        "/api/v1/projects/demo/secrets/OTHER", json={"value": VALUE}, headers=api.auth("viewer")
    )
    answers.append(viewer_put)
    assert viewer_put.status_code == 403
    deleted = await api.client.delete("/api/v1/projects/demo/secrets/DEPLOY_KEY", headers=api.auth("admin"))
    assert deleted.status_code == 204
    gone = await api.client.delete("/api/v1/projects/demo/secrets/DEPLOY_KEY", headers=api.auth("admin"))
    answers.append(gone)
    assert gone.status_code == 404 and "DEPLOY_KEY" in gone.json()["detail"]
    assert (await api.client.get("/api/v1/projects/demo/secrets", headers=api.auth("viewer"))).json() == {"items": []}
    for answer in answers:
        assert VALUE not in answer.text, answer.request.url
    audit = await api.client.get("/api/v1/audit", headers=api.auth("admin"))
    assert VALUE not in audit.text and VALUE not in caplog.text
    entries = [(e["actor"], e["action"], e["target"]) for e in audit.json()["items"]]
    assert entries.count(("admin", "secret.set", "project/demo/secret/DEPLOY_KEY")) == 2
    assert ("admin", "secret.delete", "project/demo/secret/DEPLOY_KEY") in entries


@pytest.mark.parametrize(
    "name,body,status,detail",
    [
        ("SHORT", {"value": "7-bytes"}, 422, "at least 8 bytes"),
        ("LARGE", {"value": "x" * (64 * 1024 + 1)}, 422, "at most 65536 bytes"),
        ("NUL", {"value": VALUE + "\x00"}, 422, "NUL"),
        ("lower", {"value": VALUE}, 422, "name"),
        ("9DIGIT", {"value": VALUE}, 422, "name"),
        ("A" * 65, {"value": VALUE}, 422, "name"),
        ("NUMBER", {"value": 12345678}, 422, "string"),
        ("EXTRA", {"value": VALUE, "other": VALUE}, 422, "other"),
    ],
)
async def test_bad_secrets_are_refused_without_echo(
    api: Api, name: str, body: object, status: int, detail: str
) -> None:
    """Too short, too long, a NUL, a bad name, a wrong type: a 422 naming why, never holding the value."""
    answer = await api.client.put(f"/api/v1/projects/demo/secrets/{name}", json=body, headers=api.auth("admin"))
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert detail in answer.text and VALUE not in answer.text
    assert await api.storage.list_secrets("demo") == []


async def test_malformed_body_and_unknown_project(api: Api) -> None:
    """A body cut short is a 4xx without the value; an unknown project is a 404."""
    cut = await api.client.put(
        "/api/v1/projects/demo/secrets/TOKEN",
        content=f'{{"value": "{VALUE}'.encode(),
        headers={**api.auth("admin"), "Content-Type": "application/json"},
    )
    assert 400 <= cut.status_code < 500 and VALUE not in cut.text
    missing = await api.client.put(
        "/api/v1/projects/nope/secrets/TOKEN", json={"value": VALUE}, headers=api.auth("admin")
    )
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]
    listing = await api.client.get("/api/v1/projects/nope/secrets", headers=api.auth("admin"))
    assert listing.status_code == 404


async def test_without_a_key_secrets_cannot_be_set(api: Api) -> None:
    """An api started without a secrets key refuses to set secrets (409 saying so); listing still works."""
    settings = api.settings.model_copy(update={"secrets_key": api.settings.secrets_key.__class__("")})
    async with serve(create_app(settings)) as client:
        refused = await client.put(
            "/api/v1/projects/demo/secrets/TOKEN", json={"value": VALUE}, headers=api.auth("admin")
        )
        assert refused.status_code == 409 and "secrets key" in refused.json()["detail"]
        listed = await client.get("/api/v1/projects/demo/secrets", headers=api.auth("admin"))
        assert listed.status_code == 200 and listed.json() == {"items": []}
