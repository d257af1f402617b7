"""Every operation of the OpenAPI document, called as every role, against the permission table."""

from __future__ import annotations

import asyncio
from typing import Any

from podium_api.permissions import OPERATIONS, RUN_TOKEN_PERMISSIONS, Permission, allowed
from podium_model import RunSource, RunStatus, WorkerUpdate
from podium_model.config import ScheduleConfig
from podium_model.users import Role
from podium_storage.auth import mint_run_token
from tests.api.conftest import ROLE_USERS, Api

# The events stream never ends: followed over a real socket in test_streams; here only its denials.
ENDLESS = {"streamEvents"}
RUN = "run-token"
"""The caller holding the run token of a live run of project `demo` (not a role, no user)."""
ROLES = ["anonymous", *ROLE_USERS, RUN]
ROLE_OF = {"anonymous": [], **{user: [r.value for r in roles] for user, roles in ROLE_USERS.items()}}


def _may(role: str, path: str, operation_id: str) -> bool:
    """What the tables grant: a run token reads and triggers inside `demo` only, roles as granted."""
    if role == RUN:
        permission = OPERATIONS[operation_id]
        in_scope = permission in RUN_TOKEN_PERMISSIONS and path.startswith("/api/v1/projects/{project}")
        return in_scope or permission is Permission.public
    return allowed([Role(r) for r in ROLE_OF[role]], role != "anonymous", operation_id)


# Bodies valid enough to get past validation, or invalid in a way that answers 422 (never 401).
BODIES: dict[str, Any] = {
    "login": {},
    "changeMyPassword": {"password": "x", "new_password": "short"},
    "createMyToken": {"description": "role test"},
    "createUserToken": {"description": "role test"},
    "triggerRun": {"parameters": {}},
    "createUser": {"id": "created"},
    "updateUser": {"display_name": "Target"},
    "setUserPassword": {"password": "a-long-password"},
    "applyConfiguration": {"projects": []},
    "grantUser": {"role": "viewer"},
    "grantGroup": {"role": "viewer"},
    "putGroup": {"members": ["viewer"]},
}


async def _arrange(api: Api) -> dict[str, str]:
    await api.storage.put_schedule("demo", ScheduleConfig(id="nightly", job="hello", expression="0 3 * * *"))
    await api.storage.put_worker("w1", "worker", WorkerUpdate())
    await api.storage.create_user("target", "Target", [Role.viewer])
    run = await api.storage.create_run("demo", "hello", {}, RunSource())
    # A finished run: its log stream ends at once (cancel and abort answer 409, still "allowed").
    await api.storage.transition_run(run.id, [RunStatus.pending], RunStatus.running)
    await api.storage.transition_run(run.id, [RunStatus.running], RunStatus.succeeded)
    live = await api.storage.create_run("demo", "hello", {}, RunSource())  # pending: its run token is valid
    api.tokens[RUN] = mint_run_token(api.settings.control_secret.get_secret_value(), live.id)
    return {
        "project": "demo",
        "job": "hello",
        "run": run.id,
        "schedule": "nightly",
        "worker": "w1",
        "user": "target",
        "group": "team",
        "token_id": "no-such-token",
    }


async def test_every_operation_checks_its_permission(api: Api) -> None:
    """Each role (and a run token) is allowed exactly what the tables grant: else 401 (anonymous) or 403.

    The `worker` role is refused everything but the public operations: a worker's credential is
    for the worker websocket only.
    """
    params = await _arrange(api)
    document = (await api.client.get("/api/v1/openapi.json")).json()
    operations = [
        (method.upper(), path, spec["operationId"])
        for path, item in document["paths"].items()
        for method, spec in item.items()
    ]
    assert {op for _, _, op in operations} == set(OPERATIONS)
    operations.sort(key=lambda op: op[2] == "logout")  # logout revokes the token: last
    failures = []
    for role in ROLES:
        for method, path, operation_id in operations:
            url = path.format(**params)
            may = _may(role, path, operation_id)
            if may and operation_id in ENDLESS:
                continue
            try:
                async with asyncio.timeout(30):  # a hang names its operation instead of timing the test out
                    response = await api.client.request(
                        method, url, headers=api.auth(role), json=BODIES.get(operation_id) if method != "GET" else None
                    )
            except TimeoutError:
                raise AssertionError(f"{role} {operation_id} hangs") from None
            status = response.status_code
            if status >= 500:
                failures.append(f"{role} {operation_id}: {status} {response.text}")
            elif may and status in (401, 403):
                failures.append(f"{role} {operation_id}: allowed but answered {status} {response.text}")
            elif not may and status != (401 if role == "anonymous" else 403):
                failures.append(f"{role} {operation_id}: denied but answered {status}")
            elif status >= 400:
                assert response.headers["content-type"] == "application/problem+json", (role, operation_id)
    assert not failures, "\n".join(failures)


async def test_documents_are_public_with_stable_operation_ids(api: Api) -> None:
    """The OpenAPI document and the docs page need no credentials; every operation has an id and a tag."""
    document = (await api.client.get("/api/v1/openapi.json")).json()
    for item in document["paths"].values():
        for spec in item.values():
            assert spec["operationId"] in OPERATIONS and spec["tags"]
    docs = await api.client.get("/api/v1/docs")
    assert docs.status_code == 200 and "text/html" in docs.headers["content-type"]


async def test_the_audit_log_is_for_administrators_and_auditors(api: Api) -> None:
    """GET /api/v1/audit: administrators and auditors read it; operators, viewers and workers get 403."""
    for role, status in (("admin", 200), ("auditor", 200), ("operator", 403), ("viewer", 403), ("worker", 403)):
        response = await api.client.get("/api/v1/audit", headers=api.auth(role))
        assert response.status_code == status, (role, response.text)
    assert (await api.client.get("/api/v1/audit")).status_code == 401
