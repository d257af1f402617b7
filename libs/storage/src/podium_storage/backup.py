"""Export and import of a whole Podium database as one JSON-lines file.

Each line is one object `{"kind": ..., "data": ...}`, in this order::

    header       {"format": "podium-export", "version": 1, "exported_at": ..., "logs": bool}
    project, job, schedule, secret (sealed, as stored), user, credential (with its secret hash), group, grant,
    worker
    run          each run with every field, followed by its `log` lines when logs are exported
    log          {"project", "run", "offset", "data": base64} — a chunk of at most 1 MiB
    audit        each audit entry, newest first (paged like the runs)
    end          {"counts": {kind: number}}: a file without it was cut short

Runs are paged through `Storage.list_runs`, and an import reads one line at a time, so neither
holds the runs in memory. Ids, flags and timestamps are kept, so a file exported from SQLite
imports into PostgreSQL or MongoDB and every listing answers the same. For a consistent copy,
stop the master while exporting. Project secrets travel sealed, never in clear: the importing
side needs the same secrets key to use them (`podium_storage.sealing`).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections import Counter
from collections.abc import Iterable
from typing import IO, Any

from pydantic import BaseModel, ValidationError

from podium_model import Job, Project, Run, RunFilter, Schedule, User, Worker, utcnow
from podium_model.access import Grant, Group
from podium_model.audit import AuditEntry
from podium_storage.interface import AlreadyExists, CredentialRecord, SecretRecord, Storage, StorageError
from podium_storage.logs import LogOffsetMismatch, LogStore

logger = logging.getLogger(__name__)

FORMAT = "podium-export"
VERSION = 1
RUN_PAGE = 500
"""Runs read per `list_runs` call while exporting."""
LOG_CHUNK = 1 << 20
"""Bytes of log per `log` line."""

MODELS: dict[str, type[BaseModel]] = {
    "project": Project,
    "job": Job,
    "schedule": Schedule,
    "secret": SecretRecord,
    "user": User,
    "credential": CredentialRecord,
    "group": Group,
    "grant": Grant,
    "worker": Worker,
    "run": Run,
    "audit": AuditEntry,
}


class BackupError(Exception):
    """An export file that cannot be imported (bad line, wrong version, conflicting log), or a non-empty target."""


def _line(kind: str, data: Any) -> str:
    return json.dumps({"kind": kind, "data": data}, separators=(",", ":"), ensure_ascii=False) + "\n"


def _model_line(kind: str, model: BaseModel) -> str:
    # A run's `pipeline` graph is computed for API answers, never stored: not exported either.
    return _line(kind, model.model_dump(mode="json", exclude={"pipeline"} if kind == "run" else None))


async def is_empty(storage: Storage) -> bool:
    """True if the storage holds no project, user, worker or run."""
    if await storage.list_projects() or await storage.list_users() or await storage.list_workers():
        return False
    return not (await storage.list_runs(RunFilter(), limit=1)).items


async def export_database(storage: Storage, out: IO[str], logs: LogStore | None = None) -> dict[str, int]:
    """Write the whole database (and each run's log, given `logs`) to `out`; the count per kind."""
    counts: Counter[str] = Counter()

    def write(kind: str, text: str) -> None:
        out.write(text)
        counts[kind] += 1

    header = {"format": FORMAT, "version": VERSION, "exported_at": utcnow().isoformat(), "logs": logs is not None}
    out.write(_line("header", header))
    for project in await storage.list_projects():
        write("project", _model_line("project", project))
    for job in await storage.list_jobs():
        write("job", _model_line("job", job))
    for schedule in await storage.list_schedules():
        write("schedule", _model_line("schedule", schedule))
    for secret in await storage.export_secrets():
        write("secret", _model_line("secret", secret))
    for user in await storage.list_users():
        write("user", _model_line("user", user))
    for credential in await storage.export_credentials():
        write("credential", _model_line("credential", credential))
    for group in await storage.list_groups():
        write("group", _model_line("group", group))
    for grant in await storage.list_grants():
        write("grant", _model_line("grant", grant))
    for worker in await storage.list_workers():
        write("worker", _model_line("worker", worker))
    cursor: str | None = None
    while True:
        page = await storage.list_runs(RunFilter(), limit=RUN_PAGE, cursor=cursor)
        for run in page.items:
            write("run", _model_line("run", run))
            if logs is not None:
                await _export_log(logs, run, write)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    cursor = None
    while True:
        entries = await storage.list_audit(limit=RUN_PAGE, cursor=cursor)
        for entry in entries.items:
            write("audit", _model_line("audit", entry))
        if entries.next_cursor is None:
            break
        cursor = entries.next_cursor
    out.write(_line("end", {"counts": dict(counts)}))
    logger.info("exported %s", dict(counts))
    return dict(counts)


async def _export_log(logs: LogStore, run: Run, write: Any) -> None:
    offset = 0
    while chunk := await logs.read(run.project, run.id, offset, LOG_CHUNK):
        data = {"project": run.project, "run": run.id, "offset": offset, "data": base64.b64encode(chunk).decode()}
        write("log", _line("log", data))
        offset += len(chunk)


class _Importer:
    """Imports the lines of one file, remembering which runs were skipped (merge)."""

    def __init__(self, storage: Storage, logs: LogStore | None, merge: bool) -> None:
        self.storage = storage
        self.logs = logs
        self.merge = merge
        self.counts: Counter[str] = Counter()
        self.skipped_runs: set[str] = set()

    async def entity(self, kind: str, data: Any) -> None:
        model = MODELS[kind].model_validate(data)
        try:
            await getattr(self.storage, f"import_{kind}")(model)
        except AlreadyExists:
            if not self.merge:
                raise BackupError(f"{kind} {_name(model)} exists already (use --merge to keep it)") from None
            self.counts[f"{kind} skipped"] += 1
            if isinstance(model, Run):
                self.skipped_runs.add(model.id)
            return
        self.counts[kind] += 1

    async def log(self, data: Any) -> None:
        if not isinstance(data, dict):
            raise BackupError("a log line needs an object")
        try:
            project, run_id, offset = str(data["project"]), str(data["run"]), int(data["offset"])
            chunk = base64.b64decode(data["data"], validate=True)
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise BackupError(f"malformed log line: {exc}") from None
        if self.logs is None or run_id in self.skipped_runs:
            return
        try:
            await self.logs.append(project, run_id, offset, chunk)
        except ValueError as exc:  # an id that cannot name a log file
            raise BackupError(f"log of run {run_id!r}: {exc}") from None
        except LogOffsetMismatch as exc:
            if not self.merge:
                raise BackupError(f"the log of run {run_id} holds {exc.size} bytes already") from None
            self.skipped_runs.add(run_id)
            return
        self.counts["log bytes"] += len(chunk)


def _name(model: BaseModel) -> str:
    project = getattr(model, "project", None)
    identifier = str(getattr(model, "id", getattr(model, "name", "")))
    return f"{project}/{identifier}" if isinstance(project, str) else identifier


def _parse(number: int, line: str) -> tuple[str, Any]:
    try:
        item = json.loads(line)
    except ValueError as exc:
        raise BackupError(f"line {number}: not JSON: {exc}") from None
    if not isinstance(item, dict) or not isinstance(item.get("kind"), str) or "data" not in item:
        raise BackupError(f'line {number}: expected {{"kind": ..., "data": ...}}')
    return item["kind"], item["data"]


def _check_header(number: int, kind: str, data: Any) -> None:
    if number != 1 or kind != "header" or not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BackupError("not a Podium export: the first line must be its header")
    if data.get("version") != VERSION:
        raise BackupError(f"export format version {data.get('version')!r} is not supported (expected {VERSION})")


async def import_database(
    storage: Storage, lines: Iterable[str], logs: LogStore | None = None, merge: bool = False
) -> dict[str, int]:
    """Import an export into `storage` (and its logs into `logs`, if given); the count per kind.

    The storage must be empty unless `merge`: then entities and logs that exist are kept as they
    are and counted as skipped.

    Raises:
        BackupError: the target is not empty, or a line is invalid (its number is in the message).
    """
    if not merge and not await is_empty(storage):
        raise BackupError("the database is not empty (use --merge to import into it anyway)")
    importer = _Importer(storage, logs, merge)
    ended = False
    number = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        kind, data = _parse(number, line)
        try:
            if number == 1 or kind == "header":
                _check_header(number, kind, data)
            elif ended:
                raise BackupError("data after the end line")
            elif kind == "end":
                ended = True
            elif kind == "log":
                await importer.log(data)
            elif kind in MODELS:
                await importer.entity(kind, data)
            else:
                raise BackupError(f"unknown kind {kind!r}")
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            raise BackupError(f"line {number}: invalid {kind}: {where}: {error['msg']}") from None
        except (BackupError, StorageError) as exc:
            raise BackupError(f"line {number}: {exc}") from None
    if number == 0:
        raise BackupError("the file is empty")
    if not ended:
        raise BackupError("the file ends without its end line: it was cut short (what it held is imported)")
    logger.info("imported %s", dict(importer.counts))
    return dict(importer.counts)
