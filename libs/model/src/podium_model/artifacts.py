"""Artifacts: files a run keeps from its workspace (docs/jobs.md, Artifacts).

A job lists globs relative to the workspace in `definition.artifacts`; after the last command
the executor copies the regular files they match (never through a symlink) into the run
directory, and the worker uploads them to the master beside the run's log, resumable like the
log. A run's artifacts are answered with their size and SHA-256 once its final status is stored.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from podium_model._base import Model
from podium_model.limits import ARTIFACT_PATH_BYTES


def path_problem(path: str) -> str | None:
    """Why `path` cannot name a file relative to a workspace (a pattern, or a collected file); None if it can."""
    if not path:
        return "is empty"
    if len(path.encode("utf-8", "surrogatepass")) > ARTIFACT_PATH_BYTES:
        return f"is longer than {ARTIFACT_PATH_BYTES} bytes"
    if "\x00" in path or "\\" in path:
        return "holds a NUL or a backslash"
    if path.startswith("/"):
        return "is absolute (artifacts are relative to the workspace)"
    if any(part in ("..", "") for part in path.rstrip("/").split("/")):
        return "has an empty or '..' component"
    return None


def _relative(path: str) -> str:
    problem = path_problem(path)
    if problem is not None:
        raise ValueError(f"artifact path {problem}")
    return path


ArtifactPattern = Annotated[str, AfterValidator(_relative)]
"""A glob relative to the workspace (`*`, `?`, `[...]`, `**` for any depth); a directory matched whole."""


class Artifact(Model):
    """One file a run kept."""

    path: Annotated[str, AfterValidator(_relative), Field(description="Relative to the workspace, `/`-separated")]
    size: int = Field(ge=0)
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class ArtifactList(Model):
    """A run's artifacts (`GET .../runs/{run}/artifacts`), in path order; empty until the run ended."""

    items: list[Artifact] = Field(default_factory=list)
