"""The `podium` command line: apply configuration, trigger and follow runs, administer.

Exit codes: 0 success; 1 the run did not succeed; 2 bad usage or invalid configuration;
3 the api refused the request; 4 the api could not be reached (a refused TLS certificate too).

An https api is verified (chain and host name) against the system store, or against
`--ca-file FILE` (`PODIUM_CA_FILE`) for a private CA.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from podium_client import _credentials
from podium_client._client import PodiumClient, PodiumError, PodiumUnreachable
from podium_client._output import Progress, err, out, run_details, run_row, table, to_json
from podium_model import Run, RunStatus
from podium_model.access import ProjectPermission
from podium_model.config import ConfigurationError, configuration_format, dump_schema, parse_configuration
from podium_model.transport import check_file
from podium_model.users import Role

EXIT_RUN_FAILED = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_UNREACHABLE = 4


class CliError(Exception):
    """A failure to report in one line, with its exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def _emit(args: argparse.Namespace, value: Any, human: str) -> None:
    """Print `value` as JSON with --json, else the human text."""
    if args.json:
        out(to_json(value))
    elif human:
        out(human)


def _parameters(pairs: Sequence[str]) -> dict[str, str]:
    parameters = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CliError(f"parameter {pair!r} is not KEY=VALUE")
        parameters[key] = value
    return parameters


def _ca_file(args: argparse.Namespace) -> str | None:
    """The CA bundle to trust: --ca-file, else PODIUM_CA_FILE, else None (the system store)."""
    ca_file: str | None = args.ca_file or os.environ.get("PODIUM_CA_FILE") or None
    try:
        check_file(ca_file)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    return ca_file


def _client(args: argparse.Namespace) -> PodiumClient:
    url, token = _credentials.resolve(args.url, args.token)
    if token is None:
        raise CliError("not logged in: run `podium login` or set PODIUM_TOKEN", EXIT_REFUSED)
    return PodiumClient(url, token, ca_file=_ca_file(args))


# Commands ---------------------------------------------------------------------------------


def cmd_login(args: argparse.Namespace) -> int:
    url, _ = _credentials.resolve(args.url, None)
    ca_file = _ca_file(args)
    password = args.password if args.password is not None else getpass.getpass(f"Password for {args.user}: ")
    with PodiumClient(url, ca_file=ca_file) as client:
        answer = client.login(args.user, password)
    path = _credentials.save(url, answer.token)
    _emit(args, answer, f"Logged in to {url} as {answer.user.id}; token saved in {path}")
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror}") from None
    format = configuration_format(path)
    parse_configuration(content, str(path), format)  # checked here first: errors name file, line and field
    with _client(args) as client:
        changes = client.apply(content, dry_run=args.dry_run, yaml=format == "yaml")
    head = f"{path}: {len(changes)} change(s)" + (" (dry run: nothing changed)" if args.dry_run else " applied")
    _emit(args, changes, "\n".join([head, *(f"  {c.describe()}" for c in changes)]))
    return 0


def _print_log(client: PodiumClient, args: argparse.Namespace, project: str, run_id: str) -> Run:
    """Print the live log until the run ends; answer the final run."""
    for event in client.follow(project, run_id):
        if event.ended:
            break
        if not args.json:
            sys.stdout.write(event.text)
            sys.stdout.flush()
    return client.run(project, run_id)


def cmd_trigger(args: argparse.Namespace) -> int:
    parameters = _parameters(args.parameter)
    with _client(args) as client:
        run = client.trigger(args.project, args.job, parameters)
        if not (args.wait or args.follow):
            _emit(args, run, f"Triggered {run.project}/{run.job}: run {run.id} is {run.status.value}")
            return 0
        if not args.json:
            err(f"Run {run.id} of {run.project}/{run.job} is {run.status.value}")
        if args.follow:
            final = _print_log(client, args, run.project, run.id)
        else:
            with Progress(f"waiting for run {run.id} of {run.project}/{run.job}"):
                final = client.wait(run.project, run.id)
    reason = f" ({final.reason})" if final.reason else ""
    summary = f"Run {final.id} {final.status.value}{reason}"
    if args.json:
        out(to_json(final))
    else:
        err(summary)
    return 0 if final.status == RunStatus.succeeded else EXIT_RUN_FAILED


def cmd_runs(args: argparse.Namespace) -> int:
    with _client(args) as client:
        if args.action == "list":
            filters = {"job": args.job or "", "status": args.status or "", "worker": args.worker or ""}
            page = client.runs(args.project, limit=args.limit, **filters)
            _emit(args, page, table([["RUN", "JOB", "STATUS", "WORKER", "CREATED"], *map(run_row, page.items)]))
            return 0
        if not args.run:
            raise CliError(f"runs {args.action} needs a RUN id")
        if args.action == "show":
            run = client.run(args.project, args.run)
            _emit(args, run, run_details(run))
        elif args.action == "log":
            if args.follow:
                _print_log(client, args, args.project, args.run)
            else:
                sys.stdout.buffer.write(client.log(args.project, args.run))
                sys.stdout.flush()
        elif args.action in ("cancel", "abort"):
            action = client.cancel if args.action == "cancel" else client.abort
            changed = action(args.project, args.run)
            done = "cancelled" if args.action == "cancel" else "asked to abort"
            _emit(args, changed, f"Run {changed.id} {done}: it is {changed.status.value}")
        elif args.action == "download":
            target = Path(args.output or f"{args.project}-{args.run}.tar.gz")
            try:
                target.write_bytes(client.archive(args.project, args.run))
            except OSError as exc:
                raise CliError(f"{target}: {exc.strerror}") from None
            _emit(args, {"file": str(target)}, f"Saved {target}")
    return 0


def cmd_workers(args: argparse.Namespace) -> int:
    with _client(args) as client:
        if args.action == "list":
            workers = client.workers()
            rows = [["WORKER", "ACTIVE", "ENABLED", "LIMIT", "VERSION", "PROPERTIES"]]
            for w in workers:
                props = ",".join(f"{k}={v}" for k, v in sorted(w.properties.items()))
                rows.append([w.id, "yes" if w.is_active else "no", "yes" if w.is_enabled else "no",
                             str(w.executor_limit), w.version or "-", props])  # fmt: skip
            _emit(args, workers, table(rows))
            return 0
        if not args.worker:
            raise CliError(f"workers {args.action} needs a WORKER id")
        worker = client.worker_action(args.worker, args.action)
        state = f"{'enabled' if worker.is_enabled else 'disabled'}, {'active' if worker.is_active else 'inactive'}"
        _emit(args, worker, f"Worker {worker.id}: {args.action} requested; now {state}")
    return 0


def _secret_value(args: argparse.Namespace) -> str:
    """The value to set: from --from-file, else stdin (prompted without echo on a terminal).

    Never an argument: arguments are visible to every user of the host. One trailing line break
    is dropped (`echo VALUE | podium secrets set ...`).
    """
    if args.from_file:
        try:
            data = Path(args.from_file).read_bytes()
        except OSError as exc:
            raise CliError(f"{args.from_file}: {exc.strerror}") from None
    elif sys.stdin.isatty():
        data = getpass.getpass(f"Value of {args.name}: ").encode()
    else:
        data = sys.stdin.buffer.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CliError("a secret must be UTF-8 text") from None
    return text.removesuffix("\n").removesuffix("\r")


def cmd_secrets(args: argparse.Namespace) -> int:
    with _client(args) as client:
        if args.action == "list":
            secrets = client.secrets(args.project)
            rows = [["NAME", "UPDATED"], *([s.name, s.updated_at.isoformat()] for s in secrets)]
            _emit(args, secrets, table(rows))
            return 0
        if not args.name:
            raise CliError(f"secrets {args.action} needs a NAME")
        if args.action == "set":
            info = client.set_secret(args.project, args.name, _secret_value(args))
            _emit(args, info, f"Secret {info.name} of {args.project} set")
        else:
            client.delete_secret(args.project, args.name)
            _emit(args, {"name": args.name, "deleted": True}, f"Secret {args.name} of {args.project} deleted")
    return 0


def cmd_admin(args: argparse.Namespace) -> int:
    if args.action in ("export", "import"):
        return _backup(args)
    with _client(args) as client:
        if args.action == "create-user":
            user = client.create_user(args.name, args.role or [], args.password)
            _emit(args, user, f"Created user {user.id} with roles {', '.join(user.roles) or '(none)'}")
        else:
            created = client.create_token(
                args.name, args.description, args.expires_in, args.project or None, args.operation or None
            )
            _emit(args, created, created.token)
    return 0


def _backup(args: argparse.Namespace) -> int:
    """`admin export|import FILE`: the whole database, read or written directly (not through the api).

    A backup must work with the api down and move a database to another backend, so it runs
    the storage's own admin on `--database-url`; the package comes with master and api.
    """
    try:
        from podium_storage.admin import main as storage_admin
    except ImportError:
        raise CliError(
            f"podium admin {args.action} reads the database directly: run it where podium-storage is "
            "installed (next to the master or the api)"
        ) from None
    url = args.database_url or os.environ.get("PODIUM_DATABASE_URL")
    if not url:
        raise CliError(f"podium admin {args.action} needs --database-url (or PODIUM_DATABASE_URL)")
    argv = ["--database-url", url, args.action, args.name]
    if args.logs:
        argv += ["--logs", args.logs]
    if args.merge:
        if args.action != "import":
            raise CliError("--merge goes with admin import")
        argv.append("--merge")
    return storage_admin(argv)


def cmd_schema(args: argparse.Namespace) -> int:
    out(dump_schema())
    return 0


# Parser -----------------------------------------------------------------------------------


def _common() -> argparse.ArgumentParser:
    """Options accepted before or after the command (`podium --json runs list` = `podium runs list --json`)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url", default=argparse.SUPPRESS, help="api or web URL [PODIUM_API_URL, saved login, http://127.0.0.1:8080]"
    )
    common.add_argument("--token", default=argparse.SUPPRESS, help="bearer token [PODIUM_TOKEN, saved login]")
    common.add_argument(
        "--ca-file",
        default=argparse.SUPPRESS,
        help="CA bundle verifying an https api [PODIUM_CA_FILE, default: the system store]",
    )
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")
    return common


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `podium`."""
    common = _common()
    parser = argparse.ArgumentParser(
        prog="podium",
        parents=[common],
        description="Podium command line: configuration, runs, workers, administration.",
        epilog="Exit codes: 0 ok, 1 the run did not succeed, 2 usage or invalid file, 3 refused, "
        "4 unreachable (TLS certificate refused included).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=help, description=help)

    p = command("login", "log in and save the token for the next commands")
    p.add_argument("--user", "-u", required=True)
    p.add_argument("--password", help="(prompted when omitted)")
    p.set_defaults(func=cmd_login)

    p = command("apply", "apply a configuration file (projects, jobs, schedules)")
    p.add_argument("file")
    p.add_argument("--dry-run", action="store_true", help="print the changes without making them")
    p.set_defaults(func=cmd_apply)

    p = command("trigger", "start a run of a job")
    p.add_argument("project")
    p.add_argument("job")
    p.add_argument("-p", "--parameter", action="append", default=[], metavar="KEY=VALUE", help="repeatable")
    p.add_argument("--wait", action="store_true", help="wait for the end; exit 0 only if it succeeded")
    p.add_argument("--follow", "-f", action="store_true", help="print the live log; exit 0 only if it succeeded")
    p.set_defaults(func=cmd_trigger)

    p = command("runs", "list, show, log, cancel, abort or download runs")
    p.add_argument("action", choices=["list", "show", "log", "cancel", "abort", "download"])
    p.add_argument("project")
    p.add_argument("run", nargs="?")
    p.add_argument("--job", help="with list: only this job's runs")
    p.add_argument("--status", choices=[s.value for s in RunStatus], help="with list: only runs in this status")
    p.add_argument("--worker", help="with list: only runs of this worker")
    p.add_argument("--limit", type=int, default=20, help="with list: at most this many (default 20)")
    p.add_argument("--follow", "-f", action="store_true", help="with log: follow the live log")
    p.add_argument("--output", "-o", help="with download: the file to write")
    p.set_defaults(func=cmd_runs)

    p = command("workers", "list, enable, disable or disconnect workers")
    p.add_argument("action", choices=["list", "enable", "disable", "disconnect"])
    p.add_argument("worker", nargs="?")
    p.set_defaults(func=cmd_workers)

    p = command("secrets", "set, list or delete a project's secrets (values from stdin or a file, never shown)")
    p.add_argument("action", choices=["set", "list", "delete"])
    p.add_argument("project")
    p.add_argument("name", nargs="?", help="with set and delete: the secret's name (A-Z, 0-9, _)")
    p.add_argument("--from-file", metavar="FILE", help="with set: read the value from FILE instead of stdin")
    p.set_defaults(func=cmd_secrets)

    p = command("admin", "create users and tokens; export or import the whole database (administrators)")
    p.add_argument("action", choices=["create-user", "create-token", "export", "import"])
    p.add_argument("name", help="the user; with export and import: the backup FILE (JSON lines)")
    p.add_argument("--role", action="append", choices=[r.value for r in Role], help="with create-user (repeatable)")
    p.add_argument("--password", help="with create-user")
    p.add_argument("--description", default="", help="with create-token")
    p.add_argument("--expires-in", type=int, help="with create-token: seconds until it expires")
    p.add_argument("--project", action="append", help="with create-token: narrow it to this project (repeatable)")
    p.add_argument(
        "--operation",
        action="append",
        choices=[o.value for o in ProjectPermission],
        help="with create-token: narrow it to this operation inside projects (repeatable)",
    )
    p.add_argument("--database-url", help="with export/import: the database [PODIUM_DATABASE_URL]")
    p.add_argument("--logs", metavar="DIR", help="with export/import: also the run logs, from/into this log directory")
    p.add_argument("--merge", action="store_true", help="with import: into a non-empty database, keeping what exists")
    p.set_defaults(func=cmd_admin)

    p = command("schema", "print the JSON schema of the configuration file")
    p.set_defaults(func=cmd_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `podium`; answers the exit code."""
    args = build_parser().parse_args(argv)
    for name, default in (("url", None), ("token", None), ("ca_file", None), ("json", False)):
        if not hasattr(args, name):
            setattr(args, name, default)
    try:
        code: int = args.func(args)
        return code
    except ConfigurationError as exc:
        err(str(exc))
        return EXIT_USAGE
    except CliError as exc:
        err(f"podium: {exc}")
        return exc.code
    except PodiumError as exc:
        err(f"podium: {exc}")
        return EXIT_REFUSED
    except PodiumUnreachable as exc:
        err(f"podium: {exc}")
        return EXIT_UNREACHABLE
    except ValidationError as exc:  # an api of another version answered something unexpected
        err(f"podium: unexpected answer from the api: {exc.error_count()} field(s) differ: {exc.errors()[0]['msg']}")
        return EXIT_REFUSED
    except BrokenPipeError:  # `podium runs log ... | head`: the reader left, which is fine
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
