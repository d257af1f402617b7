"""The one Dockerfile, its entrypoint and health check, checked statically: hadolint, shellcheck-free rules, layers."""

from __future__ import annotations

import re
import subprocess

from tests.deploy.tools import REPOSITORY, dockerfiles, tool

IMAGE = REPOSITORY / "deploy" / "image"
SERVICES = {"master", "api", "web", "worker", "client"}


def test_hadolint_finds_no_warning() -> None:
    """`hadolint --failure-threshold warning` passes on every Dockerfile of the repository."""
    files = [*dockerfiles(), *sorted((REPOSITORY / "tests" / "containers").glob("**/Dockerfile"))]
    assert IMAGE / "Dockerfile" in files
    result = subprocess.run(
        [tool("hadolint"), "--no-color", "--failure-threshold", "warning", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_one_dockerfile_with_the_service_and_base_image_as_build_arguments() -> None:
    """deploy/ has one Dockerfile; SERVICE and PYTHON_IMAGE (official default) are its arguments."""
    assert dockerfiles() == [IMAGE / "Dockerfile"]
    text = (IMAGE / "Dockerfile").read_text()
    assert text.startswith("#") and "ARG PYTHON_IMAGE=python:3.11-slim\n" in text
    assert text.count("\nFROM ${PYTHON_IMAGE}") == 2 and "AS build" in text
    assert "ARG SERVICE\n" in text and '--package "podium-${SERVICE}"' in text
    for service in SERVICES:  # every service the argument may name is a package of the workspace
        package = "libs/client" if service == "client" else f"services/{service}"
        assert (REPOSITORY / package / "pyproject.toml").is_file(), service


def test_dependencies_are_installed_before_the_sources_are_copied() -> None:
    """The dependency layer sees only the project files, so a code change does not reinstall them."""
    lines = (IMAGE / "Dockerfile").read_text().splitlines()
    deps = next(i for i, line in enumerate(lines) if "--no-install-workspace" in line)
    sources = lines.index("COPY libs libs")
    assert deps < sources
    for line in lines[:deps]:
        if line.startswith("COPY "):
            assert line.split()[1].endswith(("pyproject.toml", "uv.lock")), line
    workspace = {str(p.parent.relative_to(REPOSITORY)) for p in REPOSITORY.glob("*/*/pyproject.toml")}
    copied = {line.split()[2].rstrip("/") for line in lines[:deps] if line.startswith("COPY ") and "/" in line}
    assert workspace <= copied, workspace - copied  # uv needs every member's project file


def test_runtime_is_non_root_labelled_and_checks_its_health() -> None:
    """USER 10001, OCI labels last, a health check and the entrypoint; no `RUN --mount` (classic builder)."""
    text = (IMAGE / "Dockerfile").read_text()
    runtime = text[text.rindex("\nFROM ") :]
    assert "COPY --from=build /venv /venv" in runtime and "\nUSER 10001:10001" in runtime
    assert 'HEALTHCHECK --interval=5s --timeout=4s --start-period=30s --retries=3 CMD ["podium-healthcheck"]' in runtime
    assert 'ENTRYPOINT ["podium-entrypoint"]' in runtime
    labels = set(re.findall(r"org\.opencontainers\.image\.([a-z.]+)=", runtime))
    assert {"title", "description", "version", "revision", "base.name"} <= labels
    assert runtime.rstrip().splitlines()[-1].lstrip().startswith("org.opencontainers.image.")  # labels last
    assert "--mount" not in text


def test_entrypoint_and_health_check_name_every_service() -> None:
    """The entrypoint: a command per service, the agreed secret files; the health check: a URL per server."""
    entrypoint = (IMAGE / "entrypoint.sh").read_text()
    health = (IMAGE / "healthcheck.py").read_text()
    for service in SERVICES:
        assert f"\n    {service}) " in entrypoint, service
    for server in SERVICES - {"client"}:
        assert f'service == "{server}"' in health, server
    for name in ("PODIUM_DATABASE_URL", "PODIUM_ADMIN_PASSWORD", "PODIUM_TOKEN", "PGPASSWORD"):
        assert name in entrypoint, name
    assert "/health" in health and "urlopen" in health
    sh = subprocess.run(["sh", "-n", str(IMAGE / "entrypoint.sh")], capture_output=True, text=True, timeout=10)
    assert sh.returncode == 0, sh.stderr
