"""Every operation of the OpenAPI document, called as every role, against the permission table."""

from __future__ import annotations

import asyncio
from typing import Any

from podium_api.permissions import OPERATIONS, RUN_TOKEN_PERMISSIONS, Permission, allowed
from podium_model import Artifact, RunSource, RunStatus, WorkerUpdate
from podium_model.access import PROJECT_ROLE_PERMISSIONS, ProjectPermission, ProjectRole
from podium_model.config import ScheduleConfig
from podium_model.users import Role
from podium_storage.artifacts import ArtifactStore
from podium_storage.auth import hash_token, mint_run_token, new_token
from tests.api.conftest import ROLE_USERS, Api

# The events stream never ends: followed over a real socket in test_streams; here only its denials.
ENDLESS = {"streamEvents"}
RUN = "run-token"
"""The caller holding the run token of a live run of project `demo` (not a role, no user)."""
ROLES = ["anonymous", *ROLE_USERS, RUN]
ROLE_OF = {"anonymous": [], **{user: [r.value for r in roles] for user, roles in ROLE_USERS.items()}}


GRANTED: dict[str, tuple[str, ProjectRole]] = {
    "demo-viewer": ("demo", ProjectRole.viewer),
    "demo-operator": ("demo", ProjectRole.operator),
    "demo-maintainer": ("demo", ProjectRole.maintainer),
    "other-maintainer": ("other", ProjectRole.maintainer),
}
"""Users without a global role, with a grant (the last one on another project than `demo`)."""
CI = "ci-trigger"
"""A global operator's token narrowed to triggering in `demo`."""
ROLES += [*GRANTED, CI]


def _expected(who: str, path: str, operation_id: str) -> int | None:
    """None when the tables allow `who` to call the operation, else the status of the refusal.

    Inside a project a caller holds their global permissions plus their grant's there, cut to
    their token's narrowing; a project they hold nothing in answers 404 when they read
    something somewhere, else 403. Outside a project, read and maintain need holding them in
    some project; audit, metrics and admin need a global role and an unnarrowed token.
    """
    if who not in GRANTED and who != CI:
        if _may(who, path, operation_id):
            return None
        return 401 if who == "anonymous" else 403
    permission = OPERATIONS[operation_id]
    if permission in (Permission.public, Permission.default):
        return None
    if who == CI:
        holds = {"demo": {ProjectPermission.trigger}}
    else:
        project, role = GRANTED[who]
        holds = {project: set(PROJECT_ROLE_PERMISSIONS[role])}
    reads_somewhere = any(ProjectPermission.read in held for held in holds.values())
    if permission.value not in {p.value for p in ProjectPermission}:
        return 403
    needed = ProjectPermission(permission.value)
    if path.startswith("/api/v1/projects/{project}"):
        held = holds.get("demo", set())
        if needed in held:
            return None
        return 404 if not held and reads_somewhere else 403
    return None if any(needed in held for held in holds.values()) else 403


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
    "putSecret": {"value": "a-long-enough-secret"},
}


async def _arrange(api: Api) -> dict[str, str]:
    await api.storage.put_schedule("demo", ScheduleConfig(id="nightly", job="hello", expression="0 3 * * *"))
    await api.storage.put_worker("w1", "worker", WorkerUpdate())
    await api.storage.create_user("target", "Target", [Role.viewer])
    run = await api.storage.create_run("demo", "hello", {}, RunSource())
    # A finished run: its log stream ends at once (cancel and abort answer 409, still "allowed").
    await api.storage.transition_run(run.id, [RunStatus.pending], RunStatus.running)
    await api.storage.transition_run(run.id, [RunStatus.running], RunStatus.succeeded)
    artifacts = ArtifactStore(api.logs)  # one kept file, so that reading it is allowed, not a 404
    artifacts.append("demo", run.id, "out/report.txt", 0, b"ok\n")
    digest = artifacts.sha256("demo", run.id, "out/report.txt")
    artifacts.write_manifest("demo", run.id, [Artifact(path="out/report.txt", size=3, sha256=digest)])
    live = await api.storage.create_run("demo", "hello", {}, RunSource())  # pending: its run token is valid
    api.tokens[RUN] = mint_run_token(api.settings.control_secret.get_secret_value(), live.id)
    await api.storage.put_project("other", "Other")
    for who, (project, role) in GRANTED.items():
        await api.storage.create_user(who)
        await api.storage.put_grant(project, "user", who, role)
        api.tokens[who] = new_token()
        await api.storage.add_credential(who, "token", hash_token(api.tokens[who]), "test")
    api.tokens[CI] = new_token()
    await api.storage.add_credential(
        "operator", "token", hash_token(api.tokens[CI]), "ci", projects=["demo"], operations=[ProjectPermission.trigger]
    )
    return {
        "project": "demo",
        "job": "hello",
        "run": run.id,
        "schedule": "nightly",
        "worker": "w1",
        "user": "target",
        "group": "team",
        "token_id": "no-such-token",
        "name": "DEPLOY_TOKEN",
        "trigger": "no-such-hook",
        "path": "out/report.txt",
    }


async def test_every_operation_checks_its_permission(api: Api) -> None:
    """Each role, grant and token is allowed exactly what the tables grant: else 401, 403 or 404.

    The `worker` role is refused everything but the public operations: a worker's credential is
    for the worker websocket only. Callers with a grant on `demo` (viewer, operator,
    maintainer), on another project only, and a token narrowed to triggering in `demo` are
    walked too: a project the caller holds nothing in answers 404, as if it did not exist.
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
            refusal = _expected(role, path, operation_id)
            may = refusal is None
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
            elif may and status == 404 and method == "GET" and path.startswith("/api/v1/projects/{project}"):
                failures.append(f"{role} {operation_id}: allowed but hidden (404) {response.text}")
            elif not may and status != refusal:
                failures.append(f"{role} {operation_id}: denied but answered {status}, not {refusal}")
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
