"""Administration commands run straight against the database.

    python -m podium_storage.admin --database-url URL migrate
    python -m podium_storage.admin create-user ID [--role R]... [--password P | --password-stdin] [--display-name N]
    python -m podium_storage.admin create-token USER [--description D]     # prints only the token
        [--project P]... [--operation read|trigger|operate|maintain]...     # narrowed to those
    python -m podium_storage.admin apply FILE [--dry-run]                  # prints the changes
    python -m podium_storage.admin export FILE [--logs DIR]                # whole database, JSON lines
    python -m podium_storage.admin import FILE [--logs DIR] [--merge]      # into an empty database
    python -m podium_storage.admin prune --older-than-days N [--project P=DAYS]... [--logs DIR]

Each of the three reads `--log-store directory|database` (default $PODIUM_LOG_STORE, else
directory): with `database` the logs are in the database itself, and `--logs` names only the
artifact directory (prune deletes artifacts there; export and import never carry them).
    python -m podium_storage.admin generate-secrets-key                   # prints a new key
    python -m podium_storage.admin rotate-secrets-key [--secrets-key-file F]  # reseal with the first key

The URL defaults to `PODIUM_DATABASE_URL` (or the file named by `PODIUM_DATABASE_URL_FILE`); the
secrets keys to the file named by `PODIUM_SECRETS_KEY_FILE`, else `PODIUM_SECRETS_KEY`. Bad input
exits with code 2 and a one-line message on stderr; an unreachable database exits with code 1.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from podium_model import Role, UserUpdate
from podium_model.access import ProjectPermission
from podium_model.config import ConfigurationError, read_configuration
from podium_storage import migrate, open_storage
from podium_storage.auth import hash_password, hash_token, new_token
from podium_storage.backup import BackupError, export_database, import_database
from podium_storage.configuration import apply_configuration
from podium_storage.interface import Storage, StorageError, StorageUnavailable
from podium_storage.logs import LogStore, check_log_store, open_log_store
from podium_storage.retention import prune
from podium_storage.sealing import SealingError, SecretsKeys, generate_key
from podium_storage.secretfiles import read_secret_file, secrets_keys
from podium_storage.urls import UnsupportedDatabaseUrl

logger = logging.getLogger(__name__)


class UsageError(Exception):
    """Bad input: reported on stderr with exit code 2."""


PROG = "python -m podium_storage.admin"


def _parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("PODIUM_DATABASE_URL"),
        help="database URL (default: $PODIUM_DATABASE_URL)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("migrate", help="bring the schema to the newest version")
    user = commands.add_parser("create-user", help="create a user, or update the roles and password of an existing one")
    user.add_argument("id")
    user.add_argument("--role", action="append", default=[], choices=[r.value for r in Role], help="repeatable")
    user.add_argument("--password", help="visible to every user of the host while it runs: prefer --password-stdin")
    user.add_argument("--password-stdin", action="store_true", help="read the password from stdin (one line)")
    user.add_argument("--display-name")
    token = commands.add_parser("create-token", help="create a token for a user and print it")
    token.add_argument("user")
    token.add_argument("--description", default="created by podium_storage.admin")
    token.add_argument("--project", action="append", help="narrow the token to this project (repeatable)")
    token.add_argument(
        "--operation",
        action="append",
        choices=[o.value for o in ProjectPermission],
        help="narrow the token to this operation inside projects (repeatable)",
    )
    apply = commands.add_parser("apply", help="apply a configuration file (YAML or JSON)")
    apply.add_argument("file", type=Path)
    apply.add_argument("--dry-run", action="store_true", help="show the changes without making them")
    _add_backup_commands(commands)
    commands.add_parser("generate-secrets-key", help="print a new key for sealing project secrets")
    rotate = commands.add_parser(
        "rotate-secrets-key", help="reseal every project secret with the first key (after adding a new key first)"
    )
    rotate.add_argument(
        "--secrets-key-file",
        type=Path,
        default=os.environ.get("PODIUM_SECRETS_KEY_FILE"),
        help="the key file of master and api, the new key first (default: $PODIUM_SECRETS_KEY_FILE, "
        "else the keys in $PODIUM_SECRETS_KEY)",
    )
    return parser


def _add_backup_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = commands.add_parser("export", help="write the whole database to a JSON-lines file")
    export.add_argument("file", type=Path)
    export.add_argument("--logs", type=Path, metavar="DIR", help="also export each run's log from this log directory")
    load = commands.add_parser("import", help="load an export into an empty, migrated database")
    load.add_argument("file", type=Path)
    load.add_argument("--logs", type=Path, metavar="DIR", help="write the exported logs into this log directory")
    load.add_argument("--merge", action="store_true", help="import into a non-empty database, keeping what exists")
    retention = commands.add_parser("prune", help="delete final runs (and their logs) completed N days ago or more")
    retention.add_argument("--older-than-days", type=float, required=True, metavar="N")
    retention.add_argument("--project", action="append", default=[], metavar="P=DAYS", help="repeatable override")
    retention.add_argument(
        "--logs",
        type=Path,
        metavar="DIR",
        default=os.environ.get("PODIUM_LOG_DIR"),
        help="the log directory (default: $PODIUM_LOG_DIR; without one, logs are left alone)",
    )
    for command in (export, load, retention):
        command.add_argument(
            "--log-store",
            choices=["directory", "database"],
            default=os.environ.get("PODIUM_LOG_STORE") or "directory",
            help="where the logs are: files under --logs, or the database (then --logs is the artifact "
            "directory; default: $PODIUM_LOG_STORE, else directory)",
        )


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{number} {kind}" for kind, number in counts.items()) or "nothing"


def _logs(url: str, args: argparse.Namespace, storage: Storage) -> LogStore | None:
    """The log store the command's `--log-store` and `--logs` name (None: logs left alone)."""
    if args.log_store == "directory" and args.logs is None:
        return None
    try:
        check_log_store(args.log_store, url)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return open_log_store(args.log_store, args.logs, storage)


async def _export(url: str, args: argparse.Namespace) -> str:
    path: Path = args.file
    partial = path.with_name(path.name + ".partial")
    try:
        async with open_storage(url) as storage:
            logs = _logs(url, args, storage)
            with partial.open("w", encoding="utf-8") as out:
                counts = await export_database(storage, out, logs)
        partial.replace(path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise UsageError(f"cannot write {path}: {exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return f"exported {_counts(counts)}"


async def _import(url: str, args: argparse.Namespace) -> str:
    path: Path = args.file
    try:
        with path.open(encoding="utf-8") as lines:
            async with open_storage(url) as storage:
                counts = await import_database(storage, lines, _logs(url, args, storage), merge=args.merge)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    return f"imported {_counts(counts)}"


def _days(text: str, what: str) -> timedelta:
    try:
        days = float(text)
    except ValueError:
        raise UsageError(f"{what}: {text!r} is not a number of days") from None
    if not days >= 0 or days == float("inf"):
        raise UsageError(f"{what}: the number of days must be zero or more")
    return timedelta(days=days)


async def _prune(url: str, args: argparse.Namespace) -> str:
    older_than = _days(str(args.older_than_days), "--older-than-days")
    per_project: dict[str, timedelta] = {}
    for item in args.project:
        project, sep, days = item.partition("=")
        if not sep or not project:
            raise UsageError(f"--project {item!r}: expected PROJECT=DAYS")
        per_project[project] = _days(days, f"--project {project}")
    if args.logs is None and args.log_store == "directory":
        logger.warning("no log directory (--logs or PODIUM_LOG_DIR): the logs of deleted runs stay")
    async with open_storage(url) as storage:
        deleted = await prune(storage, _logs(url, args, storage), older_than, per_project)
    return f"deleted {deleted} runs"


ACTOR = "podium-admin"
"""The actor of the changes this command makes, in the audit log (it runs without a user)."""


async def _create_user(url: str, args: argparse.Namespace) -> str:
    if args.password_stdin:
        if args.password is not None:
            raise UsageError("--password and --password-stdin exclude each other")
        args.password = sys.stdin.readline().rstrip("\r\n")
    if args.password is not None and not args.password:
        raise UsageError("--password must not be empty")
    async with open_storage(url) as storage:
        roles = [Role(role) for role in args.role]
        user = await storage.get_user(args.id)
        if user is None:
            await storage.create_user(args.id, args.display_name or "", roles)
            await storage.record_audit(ACTOR, "user.create", f"user/{args.id}", {"roles": args.role})
        else:
            changes = UserUpdate(display_name=args.display_name, roles=roles or None)
            await storage.update_user(args.id, changes)
            await storage.record_audit(
                ACTOR, "user.update", f"user/{args.id}", {"after": changes.model_dump(exclude_none=True, mode="json")}
            )
        if args.password is not None:
            await storage.add_credential(args.id, "password", hash_password(args.password), "password")
            await storage.record_audit(ACTOR, "user.password", f"user/{args.id}")
    return ""


async def _create_token(url: str, args: argparse.Namespace) -> str:
    async with open_storage(url) as storage:
        if await storage.get_user(args.user) is None:
            raise UsageError(f"unknown user {args.user!r}")
        token = new_token()
        credential = await storage.add_credential(
            args.user,
            "token",
            hash_token(token),
            args.description,
            projects=args.project or None,
            operations=[ProjectPermission(o) for o in args.operation] if args.operation else None,
        )
        details: dict[str, object] = {"token": credential.id, "description": args.description}
        if credential.projects is not None or credential.operations is not None:
            details.update(projects=credential.projects, operations=credential.operations)
        await storage.record_audit(ACTOR, "token.create", f"user/{args.user}", details)
    return token


async def _apply(url: str, args: argparse.Namespace) -> str:
    path: Path = args.file
    try:
        configuration = read_configuration(path)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    async with open_storage(url) as storage:
        changes = await apply_configuration(storage, configuration, dry_run=args.dry_run)
        if changes and not args.dry_run:
            details = {
                "count": len(changes),
                "changes": [change.describe() for change in changes[:1000]],
                "file": str(path),
            }
            await storage.record_audit(ACTOR, "configuration.apply", "configuration", details)
    lines = [change.describe() for change in changes] or ["no changes"]
    return "\n".join(lines)


def _secrets_keys(args: argparse.Namespace) -> SecretsKeys:
    try:
        if args.secrets_key_file is not None:
            text = read_secret_file(args.secrets_key_file, "--secrets-key-file")
        else:
            text = os.environ.get("PODIUM_SECRETS_KEY", "")
        keys = secrets_keys(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if keys is None:
        raise UsageError("no secrets key: pass --secrets-key-file or set PODIUM_SECRETS_KEY")
    return keys


async def _rotate_secrets_key(url: str, args: argparse.Namespace) -> str:
    """Reseal every secret not sealed with the first key; each one compare-and-set, so a value set meanwhile wins."""
    keys = _secrets_keys(args)
    resealed = current = changed = 0
    unopened: list[str] = []
    async with open_storage(url) as storage:
        for secret in await storage.export_secrets():
            if keys.key_of(secret.sealed) == keys.sealing_id:
                current += 1
                continue
            try:
                value = keys.open(secret.project, secret.name, secret.sealed)
            except SealingError:
                unopened.append(f"{secret.project}/{secret.name}")
                continue
            new = keys.seal(secret.project, secret.name, value)
            if await storage.reseal_secret(secret.project, secret.name, secret.sealed, new):
                resealed += 1
            else:
                changed += 1  # set (with the first key, by a restarted api) or deleted meanwhile
    if unopened:
        raise UsageError(
            f"resealed {resealed}; {len(unopened)} do not open with the keys given (is the old key still listed?): "
            + ", ".join(unopened)
        )
    counts = f"{current} had it already, {changed} changed meanwhile"
    return f"resealed {resealed} secrets with key {keys.sealing_id} ({counts})"


async def _run(args: argparse.Namespace) -> str:
    if args.command == "generate-secrets-key":
        return generate_key()
    url: str | None = args.database_url
    if not url and os.environ.get("PODIUM_DATABASE_URL_FILE"):
        try:
            url = read_secret_file(Path(os.environ["PODIUM_DATABASE_URL_FILE"]), "PODIUM_DATABASE_URL_FILE")
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if not url:
        raise UsageError("no database: pass --database-url or set PODIUM_DATABASE_URL")
    if args.command == "migrate":
        await migrate(url)
        return ""
    if args.command == "create-user":
        return await _create_user(url, args)
    if args.command == "create-token":
        return await _create_token(url, args)
    if args.command == "export":
        return await _export(url, args)
    if args.command == "import":
        return await _import(url, args)
    if args.command == "prune":
        return await _prune(url, args)
    if args.command == "rotate-secrets-key":
        return await _rotate_secrets_key(url, args)
    return await _apply(url, args)


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    """Run one command; return the exit code.

    Args:
        argv: the arguments (default: the process's).
        prog: how the caller names this tool in messages (`podium admin` runs it too).
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = _parser(prog).parse_args(argv)
    try:
        output = asyncio.run(_run(args))
    except (UsageError, UnsupportedDatabaseUrl, BackupError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except ConfigurationError as exc:
        sys.stderr.write(f"error: invalid configuration:\n{exc}\n")
        return 2
    except StorageUnavailable as exc:
        sys.stderr.write(f"error: {exc} (is the database up, and migrated? run `{prog} migrate` first)\n")
        return 1
    except StorageError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    if output:
        sys.stdout.write(output + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
