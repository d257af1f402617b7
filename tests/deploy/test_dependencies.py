"""Each workspace package declares what its code imports: an image installs one package with its
own dependencies, so a module another package happens to bring into the workspace's venv is
missing there (the master once imported httpx and started only in the workspace)."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import distribution, packages_distributions
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

REPOSITORY = Path(__file__).resolve().parents[2]
PACKAGES = sorted(
    path.parent for path in REPOSITORY.glob("*/*/pyproject.toml") if path.parts[-3] in ("libs", "services")
)


def _closure(name: str) -> set[str]:
    """The distribution `name` and every distribution it requires (without extras), normalized."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop().lower().replace("_", "-")
        if current in seen:
            continue
        seen.add(current)
        for text in distribution(current).requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def _optional(node: ast.AST) -> bool:
    """An `if TYPE_CHECKING:` block, or a `try:` whose ImportError is handled (an optional module)."""
    if isinstance(node, ast.If):
        return "TYPE_CHECKING" in ast.unparse(node.test)
    if isinstance(node, ast.Try):
        return any(handler.type is not None and "ImportError" in ast.unparse(handler.type) for handler in node.handlers)
    return False


def _imported(source: Path) -> set[str]:
    """Top-level module names the code imports, but under TYPE_CHECKING or in a guarded `try`."""
    names: set[str] = set()
    for file in source.rglob("*.py"):
        tree = ast.parse(file.read_text())
        skipped = {id(inner) for node in ast.walk(tree) if _optional(node) for inner in ast.walk(node)}
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def _project(package: Path) -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((package / "pyproject.toml").read_text())
    return project


def _owners() -> dict[str, list[str]]:
    """Module → distributions, the workspace's own (installed editable, unknown to the metadata) included."""
    owners = {module: list(dists) for module, dists in packages_distributions().items()}
    for package in PACKAGES:
        project = _project(package)
        for path in project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]:
            owners.setdefault(Path(path).name, []).append(project["project"]["name"])
    return owners


@pytest.mark.parametrize("package", PACKAGES, ids=lambda path: path.name)
def test_every_imported_module_comes_from_a_declared_dependency(package: Path) -> None:
    name = _project(package)["project"]["name"]
    provided = _closure(name)
    owners = _owners()
    missing = []
    for module in sorted(_imported(package / "src")):
        if module in sys.stdlib_module_names or module == "__future__":
            continue
        dists = {dist.lower().replace("_", "-") for dist in owners.get(module, [])}
        if not dists & provided:
            missing.append(f"{module} (from {', '.join(sorted(dists)) or 'nowhere'})")
    assert not missing, f"{name} imports modules none of its dependencies provide: {missing}"
