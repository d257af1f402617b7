"""The Dockerfiles, checked statically: hadolint, one image per service, non-root, health checks."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.deploy.tools import REPOSITORY, dockerfiles, tool

SERVICES = {"master": "podium-master", "api": "podium-api", "web": "podium-web", "worker": "podium-worker"}


@pytest.mark.parametrize("dockerfile", dockerfiles(), ids=lambda p: str(p.relative_to(REPOSITORY)))
def test_hadolint_finds_no_warning(dockerfile: Path) -> None:
    """`hadolint --failure-threshold warning` passes on each Dockerfile."""
    result = subprocess.run(
        [tool("hadolint"), "--no-color", "--failure-threshold", "warning", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("service", "package"), sorted(SERVICES.items()))
def test_one_multi_stage_non_root_image_per_service(service: str, package: str) -> None:
    """Each service's image installs only its package in a build stage, runs as non-root, has a health check."""
    text = (REPOSITORY / "deploy" / service / "Dockerfile").read_text()
    assert (REPOSITORY / "services" / service / "pyproject.toml").is_file()
    assert text.count("\nFROM ") + text.startswith("FROM ") == 2
    assert "AS build" in text and "COPY --from=build /venv /venv" in text
    assert f"uv sync --frozen --no-dev --no-editable --package {package}" in text
    assert "COPY libs libs" in text  # the shared model library comes from the workspace
    assert "\nUSER 10001" in text
    assert "\nHEALTHCHECK " in text and "HEALTHCHECK NONE" not in text
    assert f'CMD ["{package}"]' in text
