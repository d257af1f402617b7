"""The artifact store: the files runs kept, beside their logs (`LogStore.artifacts`).

One directory per run, ``<project>/<run>.artifacts``: ``files/<path>`` for each artifact, written
like the log (a chunk only at the offset held, so an upload resumes where it stopped and never
writes a byte twice), and ``manifest.json``, written once every file is whole and its SHA-256
checked. The api answers only what the manifest lists; deleting the run's log deletes its
artifacts (`LogStore.delete`: retention, a requeue, a new attempt).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from podium_model.artifacts import Artifact, path_problem
from podium_storage.logs import LogStore, append_at

MANIFEST = "manifest.json"
FILES = "files"
_HASH_CHUNK = 1 << 20


class ArtifactStore:
    """Artifacts of runs, in the directory of the run logs."""

    def __init__(self, logs: LogStore) -> None:
        self.logs = logs

    def file(self, project: str, run_id: str, path: str) -> Path:
        """Where one artifact is stored.

        Raises:
            ValueError: `path` could escape the run's directory, or project or run id are invalid.
        """
        problem = path_problem(path)
        if problem is not None:
            raise ValueError(f"artifact path {problem}")
        return self.logs.artifacts(project, run_id) / FILES / path

    def held(self, project: str, run_id: str, path: str) -> int:
        """How many bytes of the artifact the store holds (0 when none)."""
        try:
            return self.file(project, run_id, path).stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            return 0

    def append(self, project: str, run_id: str, path: str, offset: int, data: bytes) -> int:
        """Append a chunk at `offset` (which must be the size held); return the new size.

        Raises:
            LogOffsetMismatch: `offset` is not the size held.
            LogStoreFull: the disk is full; nothing of the chunk was kept.
        """
        return append_at(self.file(project, run_id, path), offset, data)

    def sha256(self, project: str, run_id: str, path: str) -> str:
        """The hex SHA-256 of what the store holds of the artifact."""
        digest = hashlib.sha256()
        with self.file(project, run_id, path).open("rb") as stored:
            while chunk := stored.read(_HASH_CHUNK):
                digest.update(chunk)
        return digest.hexdigest()

    def discard(self, project: str, run_id: str, path: str) -> None:
        """Drop what the store holds of one artifact (it did not match its checksum)."""
        try:
            self.file(project, run_id, path).unlink()
        except FileNotFoundError:
            pass

    def write_manifest(self, project: str, run_id: str, artifacts: list[Artifact]) -> None:
        """Record the run's artifacts, every one of them whole (replaces the manifest atomically)."""
        directory = self.logs.artifacts(project, run_id)
        directory.mkdir(parents=True, exist_ok=True)
        temporary = directory / f".{MANIFEST}.tmp"
        temporary.write_text(json.dumps([artifact.model_dump(mode="json") for artifact in artifacts]))
        os.replace(temporary, directory / MANIFEST)

    def manifest(self, project: str, run_id: str) -> list[Artifact]:
        """The run's artifacts, as the manifest lists them ([] when the run kept none)."""
        try:
            text = (self.logs.artifacts(project, run_id) / MANIFEST).read_text()
        except FileNotFoundError:
            return []
        return [Artifact.model_validate(item) for item in json.loads(text)]
