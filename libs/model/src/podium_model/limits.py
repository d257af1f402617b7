"""The size limits of what enters Podium, in one place (the table in docs/operations.md).

Each limit is enforced where the input enters: the api's request guard (bodies), the
configuration loader (documents, also the master's `--config`), the configuration models (job
definitions, parameter values) and the trigger body. The master checks what it sends and
receives against the same numbers (results, the `execute` message), so one oversized input can
never become a message a worker refuses.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

KIB = 1024
MIB = 1024 * KIB

REQUEST_BODY_BYTES = 2 * MIB
"""Any request body of the api but a configuration document's."""

CONFIGURATION_BYTES = 10 * MIB
"""A configuration document: its body, and its size once YAML aliases are expanded."""

JOB_DEFINITION_BYTES = 1 * MIB
"""A job's `definition`, measured as compact JSON."""

PARAMETER_VALUE_BYTES = 64 * KIB
"""One parameter value (UTF-8): of a trigger, a job's default, a schedule."""

PARAMETERS_BYTES = 1 * MIB
"""All the parameters of one trigger or schedule together, keys and values (UTF-8)."""

RESULTS_BYTES = 1 * MIB
"""A run's results document, measured as compact JSON (what the worker reads from PODIUM_RESULTS)."""

STEP_ARGV_BYTES = 512
"""A step's argv as recorded (UTF-8 bytes, its arguments together): the executor cuts the rest and
ends the last argument kept with "…". With at most 1,000 commands a run's steps stay well under
the message a worker may send beside its results."""

STEPS = 1000
"""Steps of one run at most: one per command, and a job has at most 1,000 commands."""

LISTED_PARAMETER_BYTES = 1 * KIB
"""A parameter value as a page of runs shows it: longer values are cut there (UTF-8 bytes) and
named in the run's `truncated_parameters`; the run's own document has them whole."""

SECRET_VALUE_MIN_BYTES = 8
"""The shortest project secret value (UTF-8): masking a shorter one in logs would mask common words."""

SECRET_VALUE_BYTES = 64 * KIB
"""The largest project secret value (UTF-8): a key or a certificate fits, a file does not."""

JOB_SECRETS = 64
"""The most secrets one job's `definition.secrets` names: at most 4 MiB of values in its `execute` message."""

JOB_TRIGGERS = 16
"""The most webhook triggers one job declares."""

WEBHOOK_BODY_BYTES = 1 * MIB
"""A request body of `POST /api/v1/hooks/{project}/{id}`: the payload a webhook run gets as a file."""

ARTIFACT_PATTERNS = 100
"""The most globs one job's `definition.artifacts` lists."""

ARTIFACT_PATH_BYTES = 1 * KIB
"""The longest artifact pattern, and the longest path of a collected file (UTF-8, relative to the workspace)."""

ARTIFACT_FILES = 1000
"""The most files one run keeps as artifacts: the executor collects the first ones, in path order."""

ARTIFACT_BYTES = 1024 * MIB
"""All the artifacts of one run together: a file that would go over is not collected (the log says so)."""

CONTAINER_CPUS = 1024
"""`definition.container.cpus` at most (the engine refuses more CPUs than the host has at start)."""

CONTAINER_MEMORY_MIN = 6 * MIB
"""`definition.container.memory` at least: the Docker engine's own minimum."""

CONTAINER_MEMORY_MAX = 1024 * 1024 * MIB
"""`definition.container.memory` at most (1 TiB)."""
PROJECT_NOTIFICATIONS = 16
"""The most `notifications` (webhooks out) one project declares."""

NOTIFICATION_URL_CHARS = 2048
"""The longest URL a notification POSTs to."""

NOTIFICATION_JOBS = 100
"""The most jobs one notification narrows itself to."""

NOTIFICATION_BODY_BYTES = 256 * KIB
"""The largest body a delivery POSTs: the run's results are left out of a body that would exceed it."""

DELIVERY_ATTEMPTS_KEPT = 30
"""The attempts a delivery lists (the latest); its `attempt_count` counts them all."""

EXECUTE_MESSAGE_BYTES = 16 * MIB
"""The largest websocket message a worker accepts, so the largest `execute` the master may send."""

PRIORITY_MIN = -1000
"""The lowest priority of a job or a trigger (docs/jobs.md, Priority)."""

PRIORITY_MAX = 1000
"""The highest priority of a job or a trigger."""

CONCURRENCY_LIMIT = 10_000
"""The largest `definition.concurrency.limit` of a job: the runs of one key running at once."""

CONCURRENCY_KEY_CHARS = 200
"""A concurrency key: its template, and the key it renders to (a longer key is kept as a prefix
and a SHA-256 digest of the whole, so distinct keys stay distinct)."""


def json_size(value: Any) -> int:
    """Bytes of `value` as compact UTF-8 JSON: how definitions and results are measured."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode())


def cut_parameters(
    parameters: Mapping[str, str], limit: int = LISTED_PARAMETER_BYTES
) -> tuple[dict[str, str], list[str]]:
    """`parameters` with each value longer than `limit` UTF-8 bytes cut (on a character boundary),
    and the keys of the values cut."""
    cut: dict[str, str] = {}
    keys: list[str] = []
    for key, value in parameters.items():
        if len(value) * 4 > limit and len(encoded := value.encode()) > limit:
            cut[key] = encoded[:limit].decode("utf-8", errors="ignore")
            keys.append(key)
        else:
            cut[key] = value
    return cut, keys


def check_parameters(parameters: Mapping[str, str], what: str = "parameters") -> None:
    """Refuse a parameter value over `PARAMETER_VALUE_BYTES` or a set over `PARAMETERS_BYTES`.

    Raises:
        ValueError: naming the parameter and the limit.
    """
    total = 0
    for key, value in parameters.items():
        size = len(value.encode())
        if size > PARAMETER_VALUE_BYTES:
            raise ValueError(
                f"parameter {key!r} is {size} bytes: over the parameter value limit of {PARAMETER_VALUE_BYTES} bytes"
            )
        total += size + len(key.encode())
    if total > PARAMETERS_BYTES:
        raise ValueError(f"{what} total {total} bytes: over the parameters limit of {PARAMETERS_BYTES} bytes")
