"""Following a run from the command line: why it waits, its live log, a pipeline's children.

Everything is pushed by the api (the `/events` stream and the log stream); nothing polls.
"""

from __future__ import annotations

import contextlib
import sys

from podium_client._client import PodiumClient
from podium_client._output import err, short_id
from podium_model import Run, RunStatus


def follow(client: PodiumClient, run: Run, *, quiet: bool = False) -> Run:
    """Follow `run` until it ends and answer its final state.

    Unless `quiet`, prints on stderr each waiting reason while the run is pending, then its
    log on stdout; a pipeline run has no log of its own, so each change of a child run's status
    is printed instead.
    """
    if client.job(run.project, run.job).definition.type == "pipeline":
        return _follow_pipeline(client, run, quiet)
    if run.status == RunStatus.pending:
        run = _until_started(client, run, quiet)
    for event in client.follow(run.project, run.id):
        if event.ended:
            break
        if not quiet:
            sys.stdout.write(event.text)
            sys.stdout.flush()
    return client.run(run.project, run.id)


def _until_started(client: PodiumClient, run: Run, quiet: bool) -> Run:
    """Wait for `run` to leave `pending`, printing each new waiting reason; answer it then."""
    said: str | None = None
    with contextlib.closing(client.run_changes()) as changes:
        for changed in changes:  # the stream starts with the newest runs, so with this one
            if changed.id != run.id:
                continue
            if changed.status != RunStatus.pending:
                return changed
            if changed.waiting_reason and changed.waiting_reason != said and not quiet:
                err(f"waiting: {changed.waiting_reason}")
            said = changed.waiting_reason
    return client.run(run.project, run.id)  # the stream ended: read where the run is


def _follow_pipeline(client: PodiumClient, run: Run, quiet: bool) -> Run:
    """Print each child's status as it changes until the pipeline run ends; answer it."""
    said: str | None = None
    children: dict[str, str] = {}
    with contextlib.closing(client.run_changes()) as changes:
        for changed in changes:
            if changed.id == run.id:
                if changed.status.is_final:
                    return changed
                if changed.waiting_reason and changed.waiting_reason != said and not quiet:
                    err(f"waiting: {changed.waiting_reason}")
                said = changed.waiting_reason
            elif changed.source.run == run.id and children.get(changed.id) != changed.status.value:
                children[changed.id] = changed.status.value
                if not quiet:
                    reason = f" ({changed.reason})" if changed.reason and changed.status.is_final else ""
                    element = changed.source.element or changed.job
                    err(f"{element}: {changed.job} #{short_id(changed.id)} {changed.status.value}{reason}")
    return client.run(run.project, run.id)
