"""Authorization: the one table of what each operation needs and what each role grants.

Every route names its operation id through `operation(...)`, which both sets the OpenAPI
`operationId` and attaches the dependency checking `OPERATIONS[operation_id]`; the route × role
test walks the OpenAPI document against the same two tables.

The `worker` role grants nothing here: a worker's credential opens the master's worker websocket
and no operation of the public API (403), so a job that reads its worker's token gains nothing.

Inside a project (a path with `{project}`), `read`, `trigger`, `operate` and `maintain` are
checked against the caller's rights there (`access.Access`): global roles, the role granted on
the project, a token's narrowing. A project the caller cannot do anything in answers 404 as if
it did not exist; one they see but may not act on answers 403. Outside a project, these four
need to be held in at least one project (the lists are then filtered to what the caller sees).
The caller's grants are read once per request, and only when their global roles do not settle
the question (grants only add rights): a global operator triggering costs no lookup.

A run token's principal holds no role: it may call only operations needing `read` or `trigger`
(`RUN_TOKEN_PERMISSIONS`) on a path whose `{project}` is its run's project; anything else,
including `/me`, `/workers`, `/events` and the list of projects, is refused with 403.
"""

from __future__ import annotations

import hmac
from enum import StrEnum
from typing import Any

from fastapi import Depends, Request

from podium_api.access import PROJECT_PERMISSIONS, Access
from podium_api.errors import Forbidden, NotFound, Unauthorized
from podium_api.security import Principal, authenticate
from podium_model.access import ProjectPermission, ProjectRole
from podium_model.users import Role


class Permission(StrEnum):
    """What an operation needs."""

    public = "public"
    """Anyone, without credentials (health, login, docs)."""
    default = "default"
    """Any logged-in user (own profile, own tokens)."""
    read = "read"
    """Read projects, jobs, runs, schedules, workers."""
    trigger = "trigger"
    """Start runs."""
    operate = "operate"
    """Cancel, abort, enable, disable, disconnect."""
    maintain = "maintain"
    """Change a project: its configuration, secrets and grants (a project's maintainer, or administrator)."""
    audit = "audit"
    """Read administrative pages: users, tokens of others, service information, metrics."""
    metrics = "metrics"
    """Read the Prometheus metrics (also granted to the scraper token, see `scraper_allowed`)."""
    admin = "admin"
    """Change users, roles, credentials and configuration."""


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.administrator: frozenset(Permission),
    Role.operator: frozenset({Permission.default, Permission.read, Permission.trigger, Permission.operate}),
    Role.viewer: frozenset({Permission.default, Permission.read}),
    Role.auditor: frozenset({Permission.default, Permission.read, Permission.audit, Permission.metrics}),
    Role.worker: frozenset(),
}
"""What each role grants; a logged-in user without roles has `default` only.

`worker` grants nothing of the public API, not even `default`: the role is for the worker
websocket, which the master checks itself.
"""

OPERATIONS: dict[str, Permission] = {
    # health and me
    "getHealth": Permission.public,
    "login": Permission.public,
    "getMe": Permission.default,
    "getMyAccess": Permission.default,
    "logout": Permission.default,
    "changeMyPassword": Permission.default,
    "listMyTokens": Permission.default,
    "createMyToken": Permission.default,
    "revokeMyToken": Permission.default,
    # projects and jobs
    "listProjects": Permission.read,
    "getProject": Permission.read,
    "listJobs": Permission.read,
    "getJob": Permission.read,
    "enableJob": Permission.operate,
    "disableJob": Permission.operate,
    "triggerRun": Permission.trigger,
    # webhooks: no session, the request proves itself with the trigger's secret (routes/hooks.py)
    "callWebhook": Permission.public,
    # runs
    "listRuns": Permission.read,
    "getRun": Permission.read,
    "getRunLog": Permission.read,
    "streamRunLog": Permission.read,
    "getRunResults": Permission.read,
    "getRunArchive": Permission.read,
    "listRunArtifacts": Permission.read,
    "getRunArtifact": Permission.read,
    "cancelRun": Permission.operate,
    "abortRun": Permission.operate,
    # webhooks out: anyone who reads a project sees where its runs were announced, and how it went
    "listDeliveries": Permission.read,
    "rerunRun": Permission.trigger,
    # schedules
    "listSchedules": Permission.read,
    "getSchedule": Permission.read,
    "enableSchedule": Permission.operate,
    "disableSchedule": Permission.operate,
    # secrets: anyone who reads a project sees the names; its maintainers set and delete values
    "listSecrets": Permission.read,
    "putSecret": Permission.maintain,
    "deleteSecret": Permission.maintain,
    # workers
    "listWorkers": Permission.read,
    "getWorker": Permission.read,
    "enableWorker": Permission.operate,
    "disableWorker": Permission.operate,
    "disconnectWorker": Permission.operate,
    # users and their credentials
    "listUsers": Permission.audit,
    "getUser": Permission.audit,
    "createUser": Permission.admin,
    "updateUser": Permission.admin,
    "deleteUser": Permission.admin,
    "enableUser": Permission.admin,
    "disableUser": Permission.admin,
    "setUserPassword": Permission.admin,
    "listUserTokens": Permission.audit,
    "createUserToken": Permission.admin,
    "revokeUserToken": Permission.admin,
    # access: a project's grants, and groups
    "listProjectAccess": Permission.read,
    "grantUser": Permission.maintain,
    "revokeUser": Permission.maintain,
    "grantGroup": Permission.maintain,
    "revokeGroup": Permission.maintain,
    "listGroups": Permission.audit,
    "getGroup": Permission.audit,
    "putGroup": Permission.admin,
    "deleteGroup": Permission.admin,
    # live changes
    "streamEvents": Permission.read,
    # administration
    "applyConfiguration": Permission.maintain,
    "getServiceInfo": Permission.audit,
    "listAudit": Permission.audit,
    "getMetrics": Permission.metrics,
}
"""Operation id → the permission it needs. The single source of authorization truth."""


def permissions_of(roles: set[Role] | frozenset[Role] | list[Role], authenticated: bool) -> frozenset[Permission]:
    """Every permission held by a principal with `roles` (anonymous when not `authenticated`)."""
    if not authenticated:
        return frozenset({Permission.public})
    granted = {Permission.public}
    if not roles:
        granted.add(Permission.default)
    for role in roles:
        granted |= ROLE_PERMISSIONS.get(role, frozenset())
    return frozenset(granted)


def allowed(roles: set[Role] | frozenset[Role] | list[Role], authenticated: bool, operation_id: str) -> bool:
    """True if a principal with `roles` may call `operation_id`."""
    return OPERATIONS[operation_id] in permissions_of(roles, authenticated)


def scraper_allowed(request: Request) -> bool:
    """True if `request` carries the scraper token (`--metrics-token`), which grants `metrics` only."""
    expected = request.state.settings.metrics_token.get_secret_value()
    scheme, _, value = (request.headers.get("authorization") or "").partition(" ")
    if not expected or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode(), expected.encode())


RUN_TOKEN_PERMISSIONS = frozenset({Permission.read, Permission.trigger})
"""What a run token may do, and only inside its run's project."""
RUN_TOKEN_PERMISSIONS_IN_PROJECT = frozenset({ProjectPermission.read, ProjectPermission.trigger})


def _check_run_scope(request: Request, project: str, operation_id: str, permission: Permission) -> None:
    """Refuse a run token's request outside its project or beyond reading and triggering."""
    if permission not in RUN_TOKEN_PERMISSIONS:
        raise Forbidden(f"a run token may not call {operation_id}")
    requested = request.path_params.get("project")
    if requested is None:
        raise Forbidden(f"a run token may call only operations of its project, not {operation_id}")
    if requested != project:
        raise Forbidden(f"a run token of project {project!r} may not touch project {requested!r}")


async def access_of(request: Request) -> Access:
    """The rights of the caller of `request`, computed once per request and kept on its state.

    One storage lookup (the caller's grants) unless the global roles already allow every
    project operation everywhere (administrators) or the caller is a run token.
    """
    cached: Access | None = getattr(request.state, "access", None)
    if cached is not None:
        return cached
    principal = await authenticate(request)
    if principal.run_project is not None:
        access = Access(
            frozenset(),
            {principal.run_project: ProjectRole.operator},
            projects=frozenset({principal.run_project}),
            operations=frozenset(RUN_TOKEN_PERMISSIONS_IN_PROJECT),
        )
    else:
        global_access = _global_access(principal)
        lookup = principal.user is not None and not PROJECT_PERMISSIONS <= global_access.permissions
        grants = await request.state.storage.grants_of(principal.id) if lookup else {}
        access = Access(global_access.permissions, grants, global_access.projects, global_access.operations)
    request.state.access = access
    return access


async def visibility_of(request: Request) -> Access:
    """Rights enough to decide what the caller sees (`Access.sees`, `visible_projects`).

    A caller who reads every project by a global role sees the same with or without their
    grants, so their listings and streams cost no lookup of them.
    """
    principal = await authenticate(request)
    if principal.run_project is None:
        global_access = _global_access(principal)
        if ProjectPermission.read in global_access.everywhere():
            return global_access
    return await access_of(request)


def _global_access(principal: Principal) -> Access:
    """The rights of `principal`'s global roles alone (and token narrowing), without its grants."""
    return Access(
        permissions_of(principal.roles, principal.user is not None),
        projects=principal.token_projects,
        operations=principal.token_operations,
    )


def _allows(access: Access, permission: Permission, in_project: ProjectPermission | None, project: str | None) -> bool:
    if project is not None and in_project is not None:
        return in_project in access.on(project)
    return access.allows(permission)


def _authorizer(operation_id: str) -> Any:
    permission = OPERATIONS[operation_id]  # KeyError at import: every route must be in the table
    in_project = ProjectPermission(permission.value) if permission.value in PROJECT_PERMISSIONS else None

    async def authorize(request: Request) -> None:
        if permission is Permission.public:
            return
        if permission is Permission.metrics and scraper_allowed(request):
            return
        principal: Principal = await authenticate(request)
        if principal.user is None:
            raise Unauthorized(f"{operation_id} needs credentials")
        if principal.run_project is not None:  # a run token: its own, narrower rule, no roles
            _check_run_scope(request, principal.run_project, operation_id, permission)
            return
        project = request.path_params.get("project")
        # Grants only ever add rights: when the global roles suffice (a global operator
        # triggering, a viewer reading), the request costs no lookup of the caller's grants.
        if _allows(_global_access(principal), permission, in_project, project):
            return
        access = await access_of(request)
        if _allows(access, permission, in_project, project):
            return
        if project is not None and in_project is not None:
            if not access.on(project) and access.anywhere(ProjectPermission.read):
                raise NotFound(f"project {project!r} does not exist")
            raise Forbidden(f"{operation_id} needs the {permission} permission in project {project!r}")
        raise Forbidden(f"{operation_id} needs the {permission} permission, which your roles do not grant")

    return Depends(authorize)


def operation(operation_id: str, **extra: Any) -> dict[str, Any]:
    """Keyword arguments of a route decorator: its stable operation id and its permission check."""
    return {"operation_id": operation_id, "dependencies": [_authorizer(operation_id)], **extra}
