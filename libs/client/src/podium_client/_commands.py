"""What each `podium` subcommand does (the parser in `cli.py` maps each to one function here)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from podium_client import _credentials
from podium_client._client import PodiumClient
from podium_client._completion import script
from podium_client._follow import follow
from podium_client._output import RUN_HEADER, Progress, err, local_time, out, run_details, run_row, table, to_json
from podium_model import Run, RunStatus
from podium_model.config import configuration_format, dump_schema, parse_configuration
from podium_model.transport import check_file

EXIT_RUN_FAILED = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_UNREACHABLE = 4

RUN_SCAN = 2000
"""How many of a project's newest runs a short run id is looked up among."""
_PAGE = 500  # the api's largest page


class CliError(Exception):
    """A failure to report in one line, with its exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def emit(args: argparse.Namespace, value: Any, human: str) -> None:
    """Print `value` as JSON with --json (see `to_json` for the one shape rule), else the human text."""
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


def client(args: argparse.Namespace) -> PodiumClient:
    """A client of the api the options, the environment or the saved login name."""
    url, token = _credentials.resolve(args.url, args.token)
    if token is None:
        raise CliError("not logged in: run `podium login` or set PODIUM_TOKEN", EXIT_REFUSED)
    return PodiumClient(url, token, ca_file=_ca_file(args))


def resolve_run(api: PodiumClient, project: str, text: str) -> str:
    """The whole id of the run `text` names: a whole id, a unique prefix, or the short id lists show.

    Raises:
        CliError: no run, or more than one, matches among the project's RUN_SCAN newest.
    """
    if len(text) == 36:
        return text
    if len(text) < 4:
        raise CliError(f"run id {text!r} is too short: give at least 4 characters")
    found: list[str] = []
    cursor: str | None = None
    seen = 0
    while seen < RUN_SCAN:
        page = api.runs(project, limit=_PAGE, cursor=cursor)
        found += [run.id for run in page.items if run.id.startswith(text) or run.id.endswith(text)]
        seen += len(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    if len(found) == 1:
        return found[0]
    if found:
        raise CliError(f"run id {text!r} is ambiguous in {project}: {', '.join(found[:5])}; give more of it")
    raise CliError(f"no run of {project} matches {text!r} (among its {seen} newest; give the whole id)", EXIT_REFUSED)


def _exit_code(run: Run) -> int:
    return 0 if run.status == RunStatus.succeeded else EXIT_RUN_FAILED


def _summary(args: argparse.Namespace, run: Run) -> int:
    """Print how a followed run ended; its exit code (1 unless it succeeded)."""
    if args.json:
        out(to_json(run))
    else:
        reason = f" ({run.reason})" if run.reason else ""
        err(f"Run {run.id} {run.status.value}{reason}")
    return _exit_code(run)


# Commands ---------------------------------------------------------------------------------


def cmd_login(args: argparse.Namespace) -> int:
    """`podium login`: exchange a password for a token and save both url and token."""
    url, _ = _credentials.resolve(args.url, None)
    ca_file = _ca_file(args)
    password = args.password if args.password is not None else getpass.getpass(f"Password for {args.user}: ")
    with PodiumClient(url, ca_file=ca_file) as api:
        answer = api.login(args.user, password)
    path = _credentials.save(url, answer.token)
    emit(args, answer, f"Logged in to {url} as {answer.user.id}; token saved in {path}")
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    """`podium apply FILE`: check the file here, then apply it through the api."""
    path = Path(args.file)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror}") from None
    format = configuration_format(path)
    parse_configuration(content, str(path), format)  # checked here first: errors name file, line and field
    with client(args) as api:
        changes = api.apply(content, dry_run=args.dry_run, yaml=format == "yaml")
    head = f"{path}: {len(changes)} change(s)" + (" (dry run: nothing changed)" if args.dry_run else " applied")
    emit(args, changes, "\n".join([head, *(f"  {c.describe()}" for c in changes)]))
    return 0


def cmd_projects(args: argparse.Namespace) -> int:
    """`podium projects list`."""
    with client(args) as api:
        projects = api.projects()
    rows = [["PROJECT", "NAME"], *([p.id, p.display_name] for p in projects)]
    emit(args, projects, table(rows))
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    """`podium jobs list [PROJECT]`: the jobs of one project, or of all."""
    with client(args) as api:
        projects = [args.project] if args.project else [p.id for p in api.projects()]
        jobs = [job for project in projects for job in api.jobs(project)]
    rows = [["PROJECT", "JOB", "TYPE", "ENABLED", "NAME"]]
    rows += [[j.project, j.id, j.definition.type, "yes" if j.is_enabled else "no", j.display_name] for j in jobs]
    emit(args, jobs, table(rows))
    return 0


def cmd_trigger(args: argparse.Namespace) -> int:
    """`podium trigger PROJECT JOB`: start a run; with --wait or --follow, until it ends."""
    parameters = _parameters(args.parameter)
    with client(args) as api:
        run = api.trigger(args.project, args.job, parameters, args.priority)
        return _started(args, api, run, f"Triggered {run.project}/{run.job}")


def _started(args: argparse.Namespace, api: PodiumClient, run: Run, done: str) -> int:
    """Say a run was started; with --wait or --follow, wait for its end and sum it up."""
    if not (args.wait or args.follow):
        emit(args, run, f"{done}: run {run.id} is {run.status.value}")
        return 0
    if not args.json:
        err(f"Run {run.id} of {run.project}/{run.job} is {run.status.value}")
    if args.follow:
        final = follow(api, run, quiet=args.json)
    else:
        with Progress(f"waiting for run {run.id} of {run.project}/{run.job}"):
            final = api.wait(run.project, run.id)
    return _summary(args, final)


def cmd_runs_list(args: argparse.Namespace) -> int:
    """`podium runs list [PROJECT]`: the newest runs of one project, or of all projects."""
    filters = {"job": args.job or "", "status": args.status or "", "worker": args.worker or ""}
    with client(args) as api:
        if args.project:
            page = api.runs(args.project, limit=args.limit, **filters)
            items, listing = page.items, page.model_dump(mode="json")
        else:
            every = [run for p in api.projects() for run in api.runs(p.id, limit=args.limit, **filters).items]
            items = sorted(every, key=lambda run: run.created_at, reverse=True)[: args.limit]
            listing = {"items": items, "next_cursor": None}
    emit(args, listing, table([RUN_HEADER, *map(run_row, items)]))
    return 0


def cmd_runs_show(args: argparse.Namespace) -> int:
    """`podium runs show PROJECT RUN`."""
    with client(args) as api:
        run = api.run(args.project, resolve_run(api, args.project, args.run))
    emit(args, run, run_details(run))
    return 0


def cmd_runs_log(args: argparse.Namespace) -> int:
    """`podium runs log PROJECT RUN`: the log; with --follow live, exiting 1 unless the run succeeds."""
    with client(args) as api:
        run_id = resolve_run(api, args.project, args.run)
        if not args.follow:
            sys.stdout.buffer.write(api.log(args.project, run_id))
            sys.stdout.flush()
            return 0
        final = follow(api, api.run(args.project, run_id))
    return _summary(args, final)


def cmd_runs_stop(args: argparse.Namespace) -> int:
    """`podium runs cancel|abort PROJECT RUN`."""
    with client(args) as api:
        run_id = resolve_run(api, args.project, args.run)
        changed = api.cancel(args.project, run_id) if args.action == "cancel" else api.abort(args.project, run_id)
    done = "cancelled" if args.action == "cancel" else "asked to abort"
    emit(args, changed, f"Run {changed.id} {done}: it is {changed.status.value}")
    return 0


def cmd_runs_rerun(args: argparse.Namespace) -> int:
    """`podium runs rerun PROJECT RUN`: a new run of the same job with the same parameters."""
    with client(args) as api:
        run_id = resolve_run(api, args.project, args.run)
        run = api.rerun(args.project, run_id)
        return _started(args, api, run, f"Reran {run_id} of {run.project}/{run.job}")


def cmd_runs_download(args: argparse.Namespace) -> int:
    """`podium runs download PROJECT RUN`: the run's archive into a file."""
    with client(args) as api:
        run_id = resolve_run(api, args.project, args.run)
        target = Path(args.output or f"{args.project}-{run_id}.tar.gz")
        try:
            target.write_bytes(api.archive(args.project, run_id))
        except OSError as exc:
            raise CliError(f"{target}: {exc.strerror}") from None
    emit(args, {"file": str(target)}, f"Saved {target}")
    return 0


def cmd_runs_artifacts(args: argparse.Namespace) -> int:
    """`podium runs artifacts PROJECT RUN [PATH...]`: list a run's artifacts, or download them checked."""
    with client(args) as api:
        run_id = resolve_run(api, args.project, args.run)
        artifacts = api.artifacts(args.project, run_id)
        if args.list:
            rows = [["PATH", "SIZE", "SHA256"], *([a.path, str(a.size), a.sha256] for a in artifacts)]
            emit(args, artifacts, table(rows) if artifacts else f"Run {run_id} kept no artifact")
            return 0
        wanted = set(args.paths)
        if unknown := wanted - {artifact.path for artifact in artifacts}:
            raise CliError(f"run {run_id} has no artifact {', '.join(sorted(unknown))}")
        root = Path(args.output_dir or f"{args.project}-{run_id}-artifacts").resolve()
        saved: list[str] = []
        for artifact in artifacts:
            if wanted and artifact.path not in wanted:
                continue
            target = (root / artifact.path).resolve()
            if not target.is_relative_to(root):  # the api never answers such a path; never write one
                raise CliError(f"artifact path {artifact.path!r} leaves {root}")
            partial = target.with_name(f".{target.name}.part")
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with partial.open("wb") as file:
                    digest = api.download_artifact(args.project, artifact, run_id, file)
                if digest != artifact.sha256:
                    partial.unlink()
                    raise CliError(f"{artifact.path}: its SHA-256 is {digest}, the api lists {artifact.sha256}")
                partial.replace(target)
            except OSError as exc:
                raise CliError(f"{target}: {exc.strerror}") from None
            saved.append(str(target))
    emit(args, {"files": saved}, f"Saved {len(saved)} artifact{'s' if len(saved) != 1 else ''} in {root}")
    return 0


def cmd_workers_list(args: argparse.Namespace) -> int:
    """`podium workers list`."""
    with client(args) as api:
        workers = api.workers()
    rows = [["WORKER", "ACTIVE", "ENABLED", "MASTER", "LIMIT", "VERSION", "PROPERTIES"]]
    for w in workers:
        props = ",".join(f"{k}={v}" for k, v in sorted(w.properties.items()))
        rows.append([w.id, "yes" if w.is_active else "no", "yes" if w.is_enabled else "no", w.master or "-",
                     str(w.executor_limit), w.version or "-", props])  # fmt: skip
    emit(args, workers, table(rows))
    return 0


def cmd_workers_action(args: argparse.Namespace) -> int:
    """`podium workers enable|disable|disconnect WORKER`."""
    with client(args) as api:
        worker = api.worker_action(args.worker, args.action)
    state = f"{'enabled' if worker.is_enabled else 'disabled'}, {'active' if worker.is_active else 'inactive'}"
    emit(args, worker, f"Worker {worker.id}: {args.action} requested; now {state}")
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


def cmd_secrets_list(args: argparse.Namespace) -> int:
    """`podium secrets list PROJECT`: names and dates, never values."""
    with client(args) as api:
        secrets = api.secrets(args.project)
    rows = [["NAME", "UPDATED"], *([s.name, local_time(s.updated_at)] for s in secrets)]
    emit(args, secrets, table(rows))
    return 0


def cmd_secrets_set(args: argparse.Namespace) -> int:
    """`podium secrets set PROJECT NAME`: the value from stdin or --from-file."""
    with client(args) as api:
        info = api.set_secret(args.project, args.name, _secret_value(args))
    emit(args, info, f"Secret {info.name} of {args.project} set")
    return 0


def cmd_secrets_delete(args: argparse.Namespace) -> int:
    """`podium secrets delete PROJECT NAME`."""
    with client(args) as api:
        api.delete_secret(args.project, args.name)
    emit(args, {"name": args.name, "deleted": True}, f"Secret {args.name} of {args.project} deleted")
    return 0


def cmd_create_user(args: argparse.Namespace) -> int:
    """`podium admin create-user NAME`, through the api."""
    with client(args) as api:
        user = api.create_user(args.name, args.role or [], args.password)
    emit(args, user, f"Created user {user.id} with roles {', '.join(user.roles) or '(none)'}")
    return 0


def cmd_create_token(args: argparse.Namespace) -> int:
    """`podium admin create-token NAME`, through the api; prints the secret once."""
    with client(args) as api:
        created = api.create_token(
            args.name, args.description, args.expires_in, args.project or None, args.operation or None
        )
    emit(args, created, created.token)
    return 0


def cmd_database(args: argparse.Namespace) -> int:
    """`podium admin migrate|apply|prune|export|import`: on the database itself, not through the api.

    They must work with the api down (a first start, a backup, moving to another backend), so
    they run the storage's own admin on `--database-url`; the package comes with master and api.
    """
    try:
        from podium_storage.admin import main as storage_admin
    except ImportError:
        raise CliError(
            f"podium admin {args.action} works on the database directly: run it where podium-storage is "
            "installed (next to the master or the api)"
        ) from None
    url = args.database_url or os.environ.get("PODIUM_DATABASE_URL")
    if not url:
        raise CliError(f"podium admin {args.action} needs --database-url (or PODIUM_DATABASE_URL)")
    argv = ["--database-url", url, args.action, *args.storage_argv(args)]
    return storage_admin(argv, prog="podium admin")


def cmd_schema(args: argparse.Namespace) -> int:
    """`podium schema`: the configuration file's JSON schema."""
    out(dump_schema())
    return 0


def cmd_completion(args: argparse.Namespace) -> int:
    """`podium completion SHELL`: the completion script, from the parser itself."""
    out(script(args.parser, args.shell).rstrip("\n"))
    return 0
