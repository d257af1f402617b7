"""docs/access.md's operation × role table is the one the code enforces (regenerated and compared)."""

from __future__ import annotations

from pathlib import Path

from fastapi.routing import APIRoute

from podium_api.access import PROJECT_PERMISSIONS, Access
from podium_api.permissions import OPERATIONS, Permission, permissions_of
from podium_api.routes import ROUTERS
from podium_model.access import ProjectPermission, ProjectRole
from podium_model.users import Role

DOC = Path(__file__).resolve().parents[2] / "docs" / "access.md"
BEGIN, END = "<!-- permission table: begin -->", "<!-- permission table: end -->"

COLUMNS: list[tuple[str, Access]] = [
    ("administrator", Access(permissions_of([Role.administrator], True))),
    ("auditor", Access(permissions_of([Role.auditor], True))),
    ("operator", Access(permissions_of([Role.operator], True))),
    ("viewer", Access(permissions_of([Role.viewer], True))),
    ("P maintainer", Access(permissions_of([], True), {"P": ProjectRole.maintainer})),
    ("P operator", Access(permissions_of([], True), {"P": ProjectRole.operator})),
    ("P viewer", Access(permissions_of([], True), {"P": ProjectRole.viewer})),
    ("no role", Access(permissions_of([], True))),
]


def _routes() -> list[tuple[str, str, str]]:
    """(operation id, method, path) of every route, in the order of the routers."""
    found = []
    for router in ROUTERS:
        for route in router.routes:
            if isinstance(route, APIRoute) and route.operation_id:
                found.append((route.operation_id, sorted(route.methods)[0], "/api/v1" + route.path))
    return found


def _cell(access: Access, permission: Permission, path: str) -> str:
    if permission is Permission.public:
        return "✓"
    if "{project}" in path and permission.value in PROJECT_PERMISSIONS:
        return "✓" if ProjectPermission(permission.value) in access.on("P") else "–"
    return "✓" if access.allows(permission.value) else "–"


def permission_table() -> str:
    """The markdown table of every operation × role, as the code decides it."""
    head = "| operation | method and path | needs | " + " | ".join(name for name, _ in COLUMNS) + " |"
    rule = "| --- " * (3 + len(COLUMNS)) + "|"
    rows = [head, rule]
    for operation_id, method, path in _routes():
        permission = OPERATIONS[operation_id]
        cells = " | ".join(_cell(access, permission, path) for _, access in COLUMNS)
        rows.append(f"| `{operation_id}` | `{method} {path}` | {permission.value} | {cells} |")
    return "\n".join(rows)


def test_documented_table_is_the_enforced_one() -> None:
    """The table between the markers of docs/access.md equals the one the permission code produces."""
    text = DOC.read_text()
    documented = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert documented == permission_table(), "regenerate the table:\n" + permission_table()
