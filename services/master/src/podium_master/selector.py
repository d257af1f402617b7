"""Choosing a worker for a pending run (docs/concepts.md, Run lifecycle), and saying why none fits.

A selector is any callable `(job, run, workers) -> WorkerSlot | None`; `--selector
module:callable` replaces the default, which takes the least-loaded enabled worker whose
properties include every property of the job. A job with an image goes only to a worker that
runs jobs in containers (`--containers`), whatever the selector: the dispatcher hands a selector
only the workers able to run the job.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from podium_model import CommandsDefinition, Job, Run


@dataclass
class WorkerSlot:
    """A connected worker as the selector sees it; `load` counts the runs it holds now."""

    id: str
    properties: dict[str, str] = field(default_factory=dict)
    executor_limit: int = 1
    load: int = 0
    is_enabled: bool = True
    is_active: bool = True
    draining: bool = False
    containers: str | None = None
    """The container engine the worker runs jobs with an image in (None: it runs none)."""

    @property
    def has_room(self) -> bool:
        """True while the worker runs fewer runs than its executor limit."""
        return self.load < self.executor_limit


Selector = Callable[[Job, Run, Sequence[WorkerSlot]], "WorkerSlot | None"]


def matches(job: Job, worker: WorkerSlot) -> bool:
    """True when every property of the job is a property of the worker with the same value."""
    return all(worker.properties.get(key) == value for key, value in job.properties.items())


def image(job: Job) -> str | None:
    """The image a job's commands run in, None when they run on the worker host."""
    return job.definition.image if isinstance(job.definition, CommandsDefinition) else None


def can_run(job: Job, worker: WorkerSlot) -> bool:
    """False when the job needs containers and the worker runs none: no selector may choose it."""
    return worker.containers is not None or image(job) is None


def least_loaded(job: Job, run: Run, workers: Sequence[WorkerSlot]) -> WorkerSlot | None:
    """The default selector: the matching enabled active worker with room and the lowest load ratio."""
    candidates = [
        w for w in workers if w.is_enabled and w.is_active and not w.draining and w.has_room and matches(job, w)
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda w: (w.load / max(w.executor_limit, 1), w.load, w.id))


BUSY = "every matching worker is busy"
"""The waiting reason of a run queued behind others: the everyday state of a queue."""


def waiting_reason(job: Job, workers: Sequence[WorkerSlot]) -> str:
    """Why no worker takes a run of `job` right now, in words for people."""
    active = [w for w in workers if w.is_active]
    if not active:
        return "no worker connected"
    matching = [w for w in active if matches(job, w)]
    if not matching:
        wanted = ", ".join(f"{k}={v}" for k, v in sorted(job.properties.items()))
        return f"no connected worker has the properties {wanted}"
    if (name := image(job)) is not None:
        matching = [w for w in matching if can_run(job, w)]
        if not matching:
            return (
                f"the job runs in a container of {name} and no connected worker"
                f"{' with its properties' if job.properties else ''} runs containers (podium-worker --containers)"
            )
    enabled = [w for w in matching if w.is_enabled]
    if not enabled:
        return "every matching worker is disabled"
    taking = [w for w in enabled if not w.draining]
    if not taking:
        return "every matching worker is draining"
    if not any(w.has_room for w in taking):
        return BUSY
    return "no worker was chosen by the selector"


def load_selector(spec: str | None) -> Selector:
    """Import `module:callable`, or return the default selector when `spec` is None.

    Raises:
        ValueError: the spec is malformed or does not name a callable.
    """
    if not spec:
        return least_loaded
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"selector {spec!r} is not of the form module:callable")
    try:
        target: object = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"selector {spec!r} cannot be imported: {exc}") from exc
    if not callable(target):
        raise ValueError(f"selector {spec!r} is not callable")
    selector: Selector = target
    return selector
