"""The audit log at GET /api/v1/audit and the last-administrator guard (issue 17)."""

from __future__ import annotations

from podium_model import WorkerUpdate
from podium_model.problems import PROBLEM_MEDIA_TYPE
from tests.api.conftest import Api

AUDIT = "/api/v1/audit"


async def test_every_administrative_change_is_audited(api: Api) -> None:
    """Users, roles, passwords, tokens, configuration and workers: one entry each, no secret in any."""
    admin, client = api.auth("admin"), api.client
    await api.storage.put_worker("w1", "worker", WorkerUpdate())
    calls = [
        ("POST", "/api/v1/users", {"id": "ann", "roles": ["viewer"], "password": "ann-password-1"}),
        ("PATCH", "/api/v1/users/ann", {"roles": ["operator"]}),
        ("POST", "/api/v1/users/ann/disable", None),
        ("POST", "/api/v1/users/ann/enable", None),
        ("POST", "/api/v1/users/ann/password", {"password": "ann-password-2"}),
        ("POST", "/api/v1/users/ann/tokens", {"description": "ci"}),
        ("PUT", "/api/v1/admin/configuration", {"projects": [{"id": "audited"}]}),
        ("POST", "/api/v1/workers/w1/disable", None),
        ("POST", "/api/v1/workers/w1/enable", None),
    ]
    secrets = []
    for method, path, body in calls:
        response = await client.request(method, path, json=body, headers=admin)
        assert response.status_code in (200, 201, 204), (path, response.text)
        if path.endswith("/tokens"):
            token = response.json()
            secrets.append(token["token"])
    token_id = token["credential"]["id"]
    assert (await client.delete(f"/api/v1/users/ann/tokens/{token_id}", headers=admin)).status_code == 204
    assert (await client.delete("/api/v1/users/ann", headers=admin)).status_code == 204

    page = await client.get(AUDIT, headers=api.auth("auditor"))
    assert page.status_code == 200, page.text
    entries = list(reversed(page.json()["items"]))
    assert [(e["action"], e["target"]) for e in entries] == [
        ("user.create", "user/ann"),
        ("user.update", "user/ann"),
        ("user.disable", "user/ann"),
        ("user.enable", "user/ann"),
        ("user.password", "user/ann"),
        ("token.create", "user/ann"),
        ("configuration.apply", "configuration"),
        ("worker.disable", "worker/w1"),
        ("worker.enable", "worker/w1"),
        ("token.revoke", "user/ann"),
        ("user.delete", "user/ann"),
    ]
    assert {e["actor"] for e in entries} == {"admin"}
    assert entries[1]["details"] == {"before": {"roles": ["viewer"]}, "after": {"roles": ["operator"]}}
    assert entries[6]["details"] == {"count": 1, "changes": ["create project audited"]}
    assert entries[9]["details"] == {"token": token_id}
    for secret in [*secrets, "ann-password-1", "ann-password-2"]:
        assert secret not in page.text


async def test_audit_pages_and_filters(api: Api) -> None:
    """The listing is newest first with a cursor, filtered by actor, action or target."""
    for n in range(3):
        await api.storage.record_audit("admin", "user.disable", f"user/u{n}")
    await api.storage.record_audit("other", "user.enable", "user/u0")
    auditor = api.auth("auditor")
    first = (await api.client.get(AUDIT, params={"limit": 2}, headers=auditor)).json()
    assert [e["target"] for e in first["items"]] == ["user/u0", "user/u2"]
    rest = (await api.client.get(AUDIT, params={"cursor": first["next_cursor"]}, headers=auditor)).json()
    assert [e["target"] for e in rest["items"]] == ["user/u1", "user/u0"] and rest["next_cursor"] is None
    filtered = (await api.client.get(AUDIT, params={"target": "user/u0", "actor": "admin"}, headers=auditor)).json()
    assert [e["action"] for e in filtered["items"]] == ["user.disable"]
    assert (await api.client.get(AUDIT, params={"cursor": "bad"}, headers=auditor)).status_code == 422


async def test_the_last_administrator_cannot_be_demoted_or_disabled(api: Api) -> None:
    """Demoting or disabling the only enabled administrator is a 409 problem; with a second one it is allowed."""
    admin = api.auth("admin")
    for method, path, body in (
        ("PATCH", "/api/v1/users/admin", {"roles": ["viewer"]}),
        ("PATCH", "/api/v1/users/admin", {"is_enabled": False}),
        ("POST", "/api/v1/users/admin/disable", None),
    ):
        refused = await api.client.request(method, path, json=body, headers=admin)
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"] == PROBLEM_MEDIA_TYPE
        assert refused.json()["type"].endswith("/last-administrator")
    user = await api.storage.get_user("admin")
    assert user is not None and user.is_enabled and "administrator" in user.roles
    # A display name change of the last administrator is no demotion.
    assert (
        await api.client.patch("/api/v1/users/admin", json={"display_name": "Boss"}, headers=admin)
    ).status_code == 200
    created = await api.client.post("/api/v1/users", json={"id": "second", "roles": ["administrator"]}, headers=admin)
    assert created.status_code == 201
    demoted = await api.client.patch("/api/v1/users/admin", json={"roles": ["viewer"]}, headers=admin)
    assert demoted.status_code == 200, demoted.text
