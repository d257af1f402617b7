"""What one caller may see and do, project by project: computed once per request.

A caller's rights in a project are the union of what their global roles allow everywhere
and what the role granted to them on that project allows (their own grant or a group's, the
strongest wins), cut down to a token's narrowing (some projects, some operations). What a
caller cannot do anything with does not exist for them: it is absent from lists and streams,
and asking for it by id answers 404 — as long as the caller may read something somewhere; a
credential that reads nothing at all (a worker's, a user without roles or grants) gets 403
everywhere, which tells nothing about what exists either.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from podium_model.access import ProjectPermission, ProjectRole

PROJECT_PERMISSIONS = frozenset(ProjectPermission)


@dataclass(frozen=True)
class Access:
    """The rights of one caller.

    Attributes:
        permissions: the global permissions of the caller's roles (names of `Permission`).
        grants: project → the strongest role granted to the caller there.
        projects: a narrowed token's projects (None: not narrowed).
        operations: a narrowed token's project operations (None: not narrowed).
    """

    permissions: frozenset[str]
    grants: Mapping[str, ProjectRole] = field(default_factory=dict)
    projects: frozenset[str] | None = None
    operations: frozenset[ProjectPermission] | None = None

    @property
    def narrowed(self) -> bool:
        """True for a token narrowed to some projects or some operations."""
        return self.projects is not None or self.operations is not None

    def everywhere(self) -> frozenset[ProjectPermission]:
        """The project permissions held in every project (of the token's, when narrowed), grants aside."""
        held = frozenset(permission for permission in PROJECT_PERMISSIONS if permission.value in self.permissions)
        return held if self.operations is None else held & self.operations

    def on(self, project: str) -> frozenset[ProjectPermission]:
        """What the caller may do in `project` (empty: the project does not exist for them)."""
        if self.projects is not None and project not in self.projects:
            return frozenset()
        held = set(self.everywhere())
        role = self.grants.get(project)
        if role is not None:
            held |= role.permissions if self.operations is None else role.permissions & self.operations
        return frozenset(held)

    def sees(self, project: str) -> bool:
        """True if the caller may read `project` (it appears in their lists and streams)."""
        return ProjectPermission.read in self.on(project)

    def visible_projects(self) -> frozenset[str] | None:
        """The projects the caller may read; None when they may read every project."""
        if ProjectPermission.read in self.everywhere() and self.projects is None:
            return None
        candidates = self.projects if self.projects is not None else self.grants.keys()
        return frozenset(project for project in candidates if self.sees(project))

    def visible(self, projects: Iterable[str]) -> list[str]:
        """Those of `projects` the caller may read, in order."""
        return [project for project in projects if self.sees(project)]

    def anywhere(self, permission: ProjectPermission) -> bool:
        """True if the caller holds `permission` in at least one project."""
        if permission in self.everywhere() and self.projects is None:
            return True
        candidates = self.projects if self.projects is not None else self.grants.keys()
        return any(permission in self.on(project) for project in candidates)

    def allows(self, permission: str) -> bool:
        """True if the caller may call an operation needing `permission` outside any one project.

        A project permission outside a project (listing projects or workers, following events,
        applying configuration) needs it in at least one project; the administrative ones
        (audit, metrics, admin) need the global role and an unnarrowed credential.
        """
        if permission in PROJECT_PERMISSIONS:
            return self.anywhere(ProjectPermission(permission))
        if permission in ("public", "default"):
            return permission in self.permissions
        return permission in self.permissions and not self.narrowed
