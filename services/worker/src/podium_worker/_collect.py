"""Artifacts: the executor copies the files a job keeps out of its workspace (docs/jobs.md, Artifacts).

After the last command, each glob of `definition.artifacts` is matched in the workspace (a
matched directory counts with everything below it); the regular files found, in path order,
are copied to ``RUN_DIR/artifacts/N`` with their size and SHA-256, for the worker to upload.
The copy is what the master receives, whatever the job's leftovers do to the workspace later.

A file is reached component by component with ``O_NOFOLLOW``: a symlink anywhere on its path
is skipped, so a job can never make the executor (root, under ``--run-as``) copy a file from
outside its workspace; under ``--run-as``, a file the job's user does not own (a hard link to
someone else's file) is skipped too. Each skipped file is named in the run's log.

Stdlib only, and imported by the executor only for a job that keeps artifacts.
"""

from __future__ import annotations

import errno
import glob
import hashlib
import os
import stat

from podium_worker import _runfiles

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

MAX_FILES = 1000
MAX_BYTES = 1024 << 20
MAX_PATH = 1024
"""`podium_model.limits` ARTIFACT_FILES, ARTIFACT_BYTES and ARTIFACT_PATH_BYTES (not imported:
the executor stays stdlib only)."""

_CHUNK = 1 << 20


def matches(workspace: str, patterns: list[str]) -> list[str]:
    """The workspace-relative paths the globs match, directories expanded, sorted, without duplicates."""
    found: set[str] = set()
    for pattern in patterns:
        for match in glob.glob(pattern, root_dir=workspace, recursive=True):
            match = os.path.normpath(match)
            full = os.path.join(workspace, match)
            if os.path.isdir(full) and not os.path.islink(full):
                for folder, _, names in os.walk(full):  # never follows a symlinked directory
                    found.update(os.path.relpath(os.path.join(folder, name), workspace) for name in names)
            else:
                found.add(match)
    return sorted(found)


def _open_below(root_fd: int, path: str) -> int:
    """Open `path` below the directory `root_fd` refusing a symlink at any component (ELOOP/ENOTDIR)."""
    parts = path.split("/")
    fd = os.dup(root_fd)
    try:
        for part in parts[:-1]:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = inner
        return os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
    finally:
        os.close(fd)


def collect(
    run_dir: str, workspace: str, patterns: list[str], owner: int | None, say: Callable[[str], None]
) -> list[dict[str, Any]]:
    """Copy the matched files to ``run_dir/artifacts``; return their manifest (path, size, sha256).

    `owner`: the uid files must belong to (``--run-as``), None for any. `say` writes a line to
    the run's log. A full disk ends the collection with what was copied so far.
    """
    target = os.path.join(run_dir, _runfiles.ARTIFACTS)
    os.makedirs(target, mode=0o700, exist_ok=True)
    kept: list[dict[str, Any]] = []
    total = 0
    root_fd = os.open(workspace, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for path in matches(workspace, patterns):
            problem = _path_problem(path)
            if problem is not None:
                say(f"artifact {path!r} skipped: its path {problem}")
                continue
            if len(kept) >= MAX_FILES:
                say(f"artifact {path} skipped: a run keeps at most {MAX_FILES} files")
                continue
            try:
                fd = _open_below(root_fd, path)
            except OSError as exc:
                why = "a symlink is on its path" if exc.errno in (errno.ELOOP, errno.ENOTDIR) else exc.strerror
                say(f"artifact {path} skipped: {why}")
                continue
            with os.fdopen(fd, "rb") as source:
                info = os.fstat(fd)
                if not stat.S_ISREG(info.st_mode):
                    say(f"artifact {path} skipped: not a regular file")
                    continue
                if owner is not None and info.st_uid != owner:
                    say(f"artifact {path} skipped: not owned by the job's user")
                    continue
                if total + info.st_size > MAX_BYTES:
                    say(f"artifact {path} skipped: a run keeps at most {MAX_BYTES} bytes of artifacts")
                    continue
                try:
                    size, digest = _copy(source, os.path.join(target, str(len(kept))), MAX_BYTES - total)
                except OSError as exc:
                    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                        say(f"artifact {path} and the ones after it skipped: the worker's disk is full")
                        break
                    say(f"artifact {path} skipped: {exc.strerror or exc}")
                    continue
                if size < 0:
                    say(f"artifact {path} skipped: it grew past {MAX_BYTES} bytes of artifacts while copied")
                    continue
            kept.append({"path": path, "size": size, "sha256": digest})
            total += size
    finally:
        os.close(root_fd)
    if kept:
        say(f"kept {len(kept)} artifact{'s' if len(kept) > 1 else ''} ({total} bytes)")
    return kept


def _copy(source: Any, destination: str, room: int) -> tuple[int, str]:
    """Copy `source` to `destination` (mode 0600); its size and hex SHA-256, or -1 past `room` bytes."""
    digest = hashlib.sha256()
    size = 0
    with open(os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as copy:
        while chunk := source.read(_CHUNK):
            size += len(chunk)
            if size > room:
                break
            digest.update(chunk)
            copy.write(chunk)
    if size > room:
        os.unlink(destination)
        return -1, ""
    return size, digest.hexdigest()


def _path_problem(path: str) -> str | None:
    """What the model refuses in an artifact path (`podium_model.artifacts.path_problem`), for real files."""
    try:
        encoded = path.encode("utf-8")
    except UnicodeEncodeError:
        return "is not UTF-8"
    if len(encoded) > MAX_PATH:
        return f"is longer than {MAX_PATH} bytes"
    if "\\" in path:
        return "holds a backslash"
    return None
