"""The files of one run directory, shared by the executor and the worker connection.

Layout of ``RUN_DIR`` (one per run, on the worker's disk):

- ``request.json``: the `RunRequest` the master sent (written by the worker before the start),
  without its ``secrets``, the ``HELD_BACK`` variables of its ``environment`` (the run token)
  and the values of its ``secret_parameters``: those never touch the disk. The executor reads
  them from its stdin at its start, a JSON object ``{"secrets": {...}, "environment": {...},
  "parameters": {...}}`` (`encode_handover`) in an anonymous memory file the worker filled; an
  empty stdin means none;
- ``executor.pid``: the executor's pid, written once its signal handlers are installed, so
  the worker may send SIGTERM as soon as this file holds it (it may be empty for an instant:
  the executor reads ``abort.json`` after writing it, so an abort meanwhile is not lost);
- ``spawned.pid``: the pid as the worker saw it once the executor was forked or spawned
  (`podium_worker.rundir`), for a worker that restarts before the executor wrote its own;
- ``executor.err``: the executor's stderr (diagnostics, never part of the run's log). A forked
  executor creates it on its first write (`podium_worker.launcher.LazyStderr`): a run without
  diagnostics has none. A direct start's is opened by the worker before the interpreter starts;
- ``log``: stdout and stderr of every command, byte for byte, appended as produced;
- ``state.json``: a `WorkerRunState`, replaced atomically; its ``log_size`` is final only
  when its status is final, and then every byte of ``log`` is written;
- ``results.json``: the file ``PODIUM_RESULTS`` names; the executor rewrites it with the
  merged results after each command;
- ``abort.json``: ``{"reason": str, "grace": float}``, written by the worker before it sends
  SIGTERM to the executor;
- ``payload.json``: a webhook run's request body, as received (``PODIUM_PAYLOAD``); other runs
  have none;
- ``workspace/``: the working directory of every command (``PODIUM_WORKSPACE``);
- ``artifacts/N``: a copy of each file the job keeps, N its index in the final state's
  ``artifacts`` (`podium_worker._collect`), uploaded when the master asks (``upload``).

A run of a job with an image (`podium_worker.incontainer`) also has:

- ``container.json``: ``{"id", "image", "digest"}`` of its container once created;
- ``container.err``: why the engine could not do what the run needed (a missing image), when so;
- ``exchange/``: mounted in the container at ``/podium/exchange``; ``PODIUM_RESULTS`` names
  ``results.json`` there, copied from and back to the run's ``results.json`` around each command,
  and ``payload.json`` (``PODIUM_PAYLOAD``), a copy of a webhook run's.

Stdlib only: the executor imports this module on every run's critical path.
"""

from __future__ import annotations

import json
import os

TYPE_CHECKING = False  # typing costs milliseconds on every run's start
if TYPE_CHECKING:
    from typing import Any

REQUEST = "request.json"
PID = "executor.pid"
ERR = "executor.err"
LOG = "log"
STATE = "state.json"
RESULTS = "results.json"
ABORT = "abort.json"
PAYLOAD = "payload.json"
WORKSPACE = "workspace"
ARTIFACTS = "artifacts"

CONTAINER = "container.json"
CONTAINER_ERROR = "container.err"
EXCHANGE = "exchange"

CONTAINER_WORKSPACE = "/podium/workspace"
"""Where a container sees the run's workspace (its working directory unless the job says otherwise)."""
CONTAINER_EXCHANGE = "/podium/exchange"
CONTAINER_RESULTS = CONTAINER_EXCHANGE + "/results.json"
"""``PODIUM_RESULTS`` in a container."""
ENGINE_FAILED = 125
"""The exit code of `podium_worker.incontainer` when the engine failed (``container.err`` says why)."""

HELD_BACK = ("PODIUM_TOKEN",)
"""Variables of the request's ``environment`` handed over with the secrets, never stored."""

DEFAULT_GRACE = 10.0
"""Seconds between SIGTERM and SIGKILL when nothing else says (timeouts, bare SIGTERM)."""


def write_json_atomic(path: str | os.PathLike[str], value: Any) -> None:
    """Replace `path` with the JSON of `value` so that readers never see a partial file."""
    head, name = os.path.split(path)
    tmp = os.path.join(head, f".{name}.tmp")
    # Mode 0600: under --run-as the job's user must not read another run's request or state.
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as file:
        json.dump(value, file, ensure_ascii=False)
    os.replace(tmp, path)


def write_pid(path: str, pid: int) -> None:
    """Write `pid` in plain text (one write, without the temporary file and rename of a state)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, str(pid).encode())
    finally:
        os.close(fd)


def read_json(path: str | os.PathLike[str]) -> Any:
    """Return the JSON value in `path`, or None if the file does not exist.

    Raises:
        ValueError: the file holds no valid JSON (`json.JSONDecodeError` is a ValueError).
    """
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except FileNotFoundError:
        return None
    return json.loads(text)


def read_abort(run_dir: str | os.PathLike[str]) -> tuple[str, float] | None:
    """Return the (reason, grace) of the abort requested for the run, or None if none was.

    A malformed ``abort.json`` still means "abort": its reason and grace fall back to defaults.
    """
    path = os.path.join(run_dir, ABORT)
    if not os.path.exists(path):
        return None
    try:
        value = read_json(path)
    except (OSError, ValueError):
        value = None
    if not isinstance(value, dict):
        value = {}
    reason = value.get("reason")
    grace = value.get("grace")
    if not isinstance(reason, str) or not reason:
        reason = "aborted on request"
    if isinstance(grace, bool) or not isinstance(grace, int | float) or not grace >= 0:
        grace = DEFAULT_GRACE
    return reason, float(grace)


def write_abort(run_dir: str | os.PathLike[str], reason: str, grace: float = DEFAULT_GRACE) -> None:
    """Ask the run's executor to abort (the caller then sends it SIGTERM)."""
    write_json_atomic(os.path.join(run_dir, ABORT), {"reason": reason, "grace": grace})


def encode_handover(
    secrets: dict[str, str], environment: dict[str, str], parameters: dict[str, str] | None = None
) -> bytes:
    """What the worker writes to the executor's stdin: the values kept off the disk (`parameters`:
    the secret parameters' values)."""
    held = {name: environment[name] for name in HELD_BACK if name in environment}
    return json.dumps({"secrets": secrets, "environment": held, "parameters": parameters or {}}).encode()


def read_handover(fd: int) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Read the (secrets, environment, secret parameters) the worker handed over on `fd` to its end.

    Raises:
        ValueError: the hand-over is not what `encode_handover` writes.
    """
    parts = []
    while True:
        try:
            data = os.read(fd, 1 << 16)
        except OSError as exc:
            raise ValueError(f"cannot read the secrets handed over: {exc}") from exc
        if not data:
            break
        parts.append(data)
    if not parts:
        return {}, {}, {}
    try:
        value = json.loads(b"".join(parts))
    except ValueError as exc:
        raise ValueError(f"the secrets handed over are not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ValueError("the secrets handed over are not a JSON object")
    where = "secrets handed over"
    return (
        _strings(value.get("secrets", {}), "secrets", where),
        _strings(value.get("environment", {}), "environment", where),
        _strings(value.get("parameters", {}), "parameters", where),
    )


def _strings(value: object, what: str, where: str = "request.json") -> dict[str, str]:
    """Check that `value` maps strings to strings."""
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError(f"invalid {where}: {what} must map strings to strings")
    return value


def load_request(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check the run's ``request.json`` (a `RunRequest`) without pydantic.

    Raises:
        ValueError: the file is missing, unreadable or not a valid request (a clear message).
    """
    try:
        request = read_json(os.path.join(run_dir, REQUEST))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read request.json: {exc}") from exc
    if not isinstance(request, dict):
        raise ValueError("invalid request.json: missing or not a JSON object")
    for key in ("run_id", "project", "job"):
        if not isinstance(request.get(key), str):
            raise ValueError(f"invalid request.json: {key} must be a string")
    for key in ("parameters", "environment", "worker"):
        request[key] = _strings(request.get(key, {}), key)
    definition = request.get("definition")
    if not isinstance(definition, dict) or definition.get("type", "job") != "job":
        raise ValueError("invalid request.json: definition must be a job definition")
    commands = definition.get("commands")
    if not isinstance(commands, list) or not commands:
        raise ValueError("invalid request.json: definition.commands must be a non-empty list")
    for index, command in enumerate(commands, 1):
        if not isinstance(command, list) or not command or not all(isinstance(arg, str) for arg in command):
            raise ValueError(f"invalid request.json: command {index} must be a non-empty list of strings")
    timeout = definition.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0):
        raise ValueError("invalid request.json: definition.timeout must be a positive number")
    definition["environment"] = _strings(definition.get("environment", {}), "definition.environment")
    return request
