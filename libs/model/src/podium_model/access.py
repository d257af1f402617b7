"""Per-project access: grants of a role on one project to a user or a group, and groups of users.

A global role (`podium_model.users.Role`) applies to every project; a grant gives its role on
one project only. The project roles, weakest first:

- `viewer`: read the project, its jobs, runs, logs, artifacts, results and schedules;
- `operator`: also trigger, cancel, abort, enable and disable jobs and schedules;
- `maintainer`: also the project's configuration, schedules, secrets and grants.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Literal

from pydantic import Field

from podium_model._base import Model, Slug, UtcDatetime

MAX_GROUP_MEMBERS = 1000
"""How many users a group may hold (enforced on the API's body and in configuration)."""
MAX_PROJECT_GRANTS = 1000
"""How many users, and how many groups, a project's `access` in configuration may name."""


class ProjectPermission(StrEnum):
    """What a project role (or a global role, on every project) allows inside a project.

    A token may be narrowed to some of these (`TokenCreate.operations`).
    """

    read = "read"
    """Read the project, its jobs, runs, logs, artifacts, results, schedules and secrets' names."""
    trigger = "trigger"
    """Start runs."""
    operate = "operate"
    """Cancel, abort, enable and disable jobs and schedules."""
    maintain = "maintain"
    """Change the project: its configuration, secrets and grants."""


class ProjectRole(StrEnum):
    """A role granted on one project."""

    viewer = "viewer"
    operator = "operator"
    maintainer = "maintainer"

    @property
    def permissions(self) -> frozenset[ProjectPermission]:
        """What the role allows in its project."""
        return PROJECT_ROLE_PERMISSIONS[self]

    @property
    def rank(self) -> int:
        """0 for viewer, 1 for operator, 2 for maintainer: the strongest of several grants wins."""
        return list(ProjectRole).index(self)


PROJECT_ROLE_PERMISSIONS: dict[ProjectRole, frozenset[ProjectPermission]] = {
    ProjectRole.viewer: frozenset({ProjectPermission.read}),
    ProjectRole.operator: frozenset({ProjectPermission.read, ProjectPermission.trigger, ProjectPermission.operate}),
    ProjectRole.maintainer: frozenset(ProjectPermission),
}


def strongest_roles(pairs: Iterable[tuple[str, str]]) -> dict[str, ProjectRole]:
    """Project → the strongest of the roles in `(project, role name)` pairs (several grants: the strongest wins)."""
    best: dict[str, ProjectRole] = {}
    for project, name in pairs:
        role = ProjectRole(name)
        if project not in best or role.rank > best[project].rank:
            best[project] = role
    return best


GranteeKind = Literal["user", "group"]


class Grant(Model):
    """A role on one project given to a user or to a group."""

    project: Slug
    kind: GranteeKind
    name: Slug = Field(description="The user id or the group id")
    role: ProjectRole
    created_at: UtcDatetime
    updated_at: UtcDatetime


class GrantUpdate(Model):
    """Body of `PUT /api/v1/projects/{project}/access/{users|groups}/{name}`."""

    role: ProjectRole


class Group(Model):
    """A named set of users, granted roles on projects as one."""

    id: Slug
    display_name: str = ""
    members: list[Slug] = Field(default_factory=list, description="User ids, sorted")
    created_at: UtcDatetime
    updated_at: UtcDatetime


class GroupUpdate(Model):
    """Body of `PUT /api/v1/groups/{group}`: the whole group (its members replace the previous ones)."""

    display_name: str = Field(default="", max_length=200)
    members: list[Slug] = Field(default_factory=list, max_length=MAX_GROUP_MEMBERS)


class ProjectAccess(Model):
    """A project's grants in configuration as code: `access: {users: {ann: operator}, groups: {...}}`.

    When a project of the file carries `access`, applying the file makes the project's grants
    exactly these; a project without `access` keeps the grants it has.
    """

    users: dict[Slug, ProjectRole] = Field(default_factory=dict, max_length=MAX_PROJECT_GRANTS)
    groups: dict[Slug, ProjectRole] = Field(default_factory=dict, max_length=MAX_PROJECT_GRANTS)


class MyAccess(Model):
    """Answer of `GET /api/v1/me/access`: what the caller may do, for a UI to show only that.

    `permissions` are the caller's global permissions (a global role applies to every
    project); `projects` names every project the caller may see with what they may do in it.
    """

    permissions: list[str]
    projects: dict[str, list[ProjectPermission]]
