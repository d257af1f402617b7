"""Administration commands run straight against the database.

    python -m podium_storage.admin --database-url URL migrate
    python -m podium_storage.admin create-user ID [--role R]... [--password P] [--display-name N]
    python -m podium_storage.admin create-token USER [--description D]     # prints only the token
    python -m podium_storage.admin apply FILE [--dry-run]                  # prints the changes

The URL defaults to `PODIUM_DATABASE_URL`. Bad input exits with code 2 and a one-line
message on stderr; an unreachable database exits with code 1.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from podium_model import Role, UserUpdate
from podium_model.config import ConfigurationError, parse_configuration
from podium_storage import migrate, open_storage
from podium_storage.auth import hash_password, hash_token, new_token
from podium_storage.configuration import apply_configuration
from podium_storage.interface import StorageError, StorageUnavailable
from podium_storage.urls import UnsupportedDatabaseUrl

logger = logging.getLogger(__name__)


class UsageError(Exception):
    """Bad input: reported on stderr with exit code 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m podium_storage.admin", description=__doc__.split("\n\n")[0])
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
    user.add_argument("--password")
    user.add_argument("--display-name")
    token = commands.add_parser("create-token", help="create a token for a user and print it")
    token.add_argument("user")
    token.add_argument("--description", default="created by podium_storage.admin")
    apply = commands.add_parser("apply", help="apply a configuration file (YAML or JSON)")
    apply.add_argument("file", type=Path)
    apply.add_argument("--dry-run", action="store_true", help="show the changes without making them")
    return parser


async def _create_user(url: str, args: argparse.Namespace) -> str:
    if args.password is not None and not args.password:
        raise UsageError("--password must not be empty")
    async with open_storage(url) as storage:
        roles = [Role(role) for role in args.role]
        user = await storage.get_user(args.id)
        if user is None:
            await storage.create_user(args.id, args.display_name or "", roles)
            logger.info("user %s created", args.id)
        else:
            changes = UserUpdate(display_name=args.display_name, roles=roles or None)
            await storage.update_user(args.id, changes)
        if args.password is not None:
            await storage.add_credential(args.id, "password", hash_password(args.password), "password")
    return ""


async def _create_token(url: str, args: argparse.Namespace) -> str:
    async with open_storage(url) as storage:
        if await storage.get_user(args.user) is None:
            raise UsageError(f"unknown user {args.user!r}")
        token = new_token()
        await storage.add_credential(args.user, "token", hash_token(token), args.description)
    return token


async def _apply(url: str, args: argparse.Namespace) -> str:
    path: Path = args.file
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    configuration = parse_configuration(text, str(path))
    async with open_storage(url) as storage:
        changes = await apply_configuration(storage, configuration, dry_run=args.dry_run)
    lines = [change.describe() for change in changes] or ["no changes"]
    return "\n".join(lines)


async def _run(args: argparse.Namespace) -> str:
    url: str | None = args.database_url
    if not url:
        raise UsageError("no database: pass --database-url or set PODIUM_DATABASE_URL")
    if args.command == "migrate":
        await migrate(url)
        return ""
    if args.command == "create-user":
        return await _create_user(url, args)
    if args.command == "create-token":
        return await _create_token(url, args)
    return await _apply(url, args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the exit code."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    try:
        output = asyncio.run(_run(args))
    except (UsageError, UnsupportedDatabaseUrl) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except ConfigurationError as exc:
        sys.stderr.write(f"error: invalid configuration:\n{exc}\n")
        return 2
    except StorageUnavailable as exc:
        sys.stderr.write(f"error: {exc} (is the database up, and migrated? run `migrate` first)\n")
        return 1
    except StorageError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    if output:
        sys.stdout.write(output + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
