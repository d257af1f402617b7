"""The executor's helper for runs in containers: ``python -m podium_worker.incontainer STEP RUN_DIR``.

The executor stays stdlib only and engine-free: for a job with an image it runs this helper
where it would run a command, and treats it as one (its output is the log, its exit code the
command's, SIGTERM to its group is the stop). Steps:

- ``prepare``: get the image (per ``container.pull``), create and start the run's container
  (`podium_worker.engine`), record ``container.json``; exit 0, or `ENGINE_FAILED` with the
  reason in ``container.err`` (a missing image names it);
- ``exec``: read ``{"argv": [...], "env": {...}}`` on stdin (the command and its environment,
  secrets included: never on a command line), copy ``results.json`` to the exchange directory,
  exec the command in the container with its output streamed to stdout, copy the results
  back, exit with the command's exit code. On SIGTERM it asks the engine to stop the
  container with the abort's grace (SIGTERM to the command, SIGKILL after the grace): the
  engine finishes that stop even if this helper is killed meanwhile.

Being a child of the executor, in the executor's session, it survives the worker as the
executor does: a restarted worker finds the run's container still attached to its helper.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import sys
import threading
from pathlib import Path
from typing import Any

from podium_worker import _runfiles as files

USAGE = "usage: python -m podium_worker.incontainer prepare|exec RUN_DIR"


def _fail(run_dir: Path, reason: str) -> int:
    """Record why the engine failed the run and return the exit code that says so."""
    (run_dir / files.CONTAINER_ERROR).write_text(reason, encoding="utf-8")
    return files.ENGINE_FAILED


class _Stopped(Exception):
    """SIGTERM while the image was being pulled: nothing is left to undo."""


def prepare(run_dir: Path) -> int:
    """Get the image, create and start the container, record it.

    SIGTERM (an abort, the timeout) stops a pull at once, but waits for a creation under way to
    be answered and then removes the container: a creation the engine finishes after this
    process is gone would leave a container that the run's clean, already over, never sees.
    """
    from podium_worker import engine

    creating = False
    stopped = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopped
        stopped = True
        if not creating:
            raise _Stopped

    signal.signal(signal.SIGTERM, stop)
    request: dict[str, Any] = files.load_request(run_dir)
    definition = request["definition"]
    name = definition["image"]
    pull = (definition.get("container") or {}).get("pull") or "missing"
    try:
        client = engine.client(timeout=engine.UNBOUNDED)  # a pull takes what it takes
        found = engine.image(client, name, pull)
        creating = True
        if stopped:
            raise _Stopped
        container = engine.create(client, run_dir, request, found)
    except _Stopped:
        return 128 + signal.SIGTERM
    except engine.EngineError as exc:
        return _fail(run_dir, str(exc))
    except Exception as exc:
        return _fail(run_dir, f"the Docker engine failed the container of {name}: {exc}")
    if stopped:
        engine.remove(container)
        return 128 + signal.SIGTERM
    record = {"id": container.id, "image": name, "digest": engine.digest(found)}
    files.write_json_atomic(run_dir / files.CONTAINER, record)
    return 0


def execute(run_dir: Path, command: dict[str, Any]) -> int:
    """Exec one command in the run's container; its exit code."""
    import docker.errors

    from podium_worker import engine

    record = files.read_json(run_dir / files.CONTAINER)
    if not isinstance(record, dict) or "id" not in record:
        return _fail(run_dir, "the run's container was never created")
    exchange = run_dir / files.EXCHANGE / "results.json"
    _put_results((run_dir / files.RESULTS).read_bytes(), exchange)
    stream_client = engine.client(timeout=engine.UNBOUNDED)  # a command may stay silent for hours
    api = stream_client.api
    container_id = str(record["id"])
    stopping = threading.Event()

    def stop(signum: int, frame: object) -> None:
        if stopping.is_set():
            return
        stopping.set()
        abort = files.read_abort(run_dir)
        grace = abort[1] if abort is not None else files.DEFAULT_GRACE
        threading.Thread(target=_stop, args=(container_id, grace), daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    try:
        exec_id = api.exec_create(container_id, command["argv"], environment=command["env"])["Id"]
        output = api.exec_start(exec_id, stream=True)
        for chunk in output:
            view = memoryview(chunk)
            while view:
                view = view[os.write(1, view) :]
        code = api.exec_inspect(exec_id).get("ExitCode")
    except docker.errors.DockerException as exc:
        if stopping.is_set():
            return 128 + signal.SIGTERM
        return _fail(run_dir, f"the Docker engine failed command {command['argv'][0]!r}: {engine._explain(exc)}")
    _take_results(exchange, run_dir / files.RESULTS)
    if code is None:  # still running as the container went: it was killed with it
        return 128 + signal.SIGKILL
    return int(code)


def _put_results(data: bytes, exchange: Path) -> None:
    """Give the command the run's results so far, in a new file of its own.

    The exchange directory is the container's to write: whatever it left at that name (a
    symlink to a file of the host, say) is removed, never written through.
    """
    with contextlib.suppress(FileNotFoundError):
        os.unlink(exchange)
    fd = os.open(exchange, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    try:
        os.fchmod(fd, 0o666)  # the container's user, whoever it is, writes it
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _take_results(exchange: Path, results: Path) -> None:
    """Copy what the command left in PODIUM_RESULTS back to the run's results file.

    Only a regular file, never followed through a symlink, and read no further than the
    executor's limit: what is wrong with it (not JSON, too large, not a file) is for the executor
    to say, so it gets the bytes as they are or a note that is no JSON.
    """
    try:
        fd = os.open(exchange, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return  # removed: the command left no results (the run's own file keeps the earlier ones)
    except OSError as exc:
        _write_raw(results, f"(not a regular file: {exc.strerror})".encode())
        return
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            _write_raw(results, b"(not a regular file)")
            return
        with os.fdopen(fd, "rb", closefd=False) as file:
            data = file.read(_results_limit() + 1)
    finally:
        os.close(fd)
    try:
        value = json.loads(data.decode("utf-8") or "{}") if len(data) <= _results_limit() else None
    except ValueError:
        value = None
    if isinstance(value, dict):
        files.write_json_atomic(results, value)
    else:
        _write_raw(results, data)


def _results_limit() -> int:
    """The largest results document the executor takes (`podium_worker.executor.MAX_RESULTS`)."""
    from podium_worker.executor import MAX_RESULTS

    return MAX_RESULTS


def _write_raw(path: Path, data: bytes) -> None:
    """Replace `path` with `data` as they are (atomically, as the executor's own writes)."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as file:
        file.write(data)
    os.replace(tmp, path)


def _stop(container_id: str, grace: float) -> None:
    """Stop the container: SIGTERM to its init (which passes it on), SIGKILL after `grace`."""
    from podium_worker import engine

    try:
        engine.client(timeout=int(grace) + engine.TIMEOUT).api.stop(container_id, timeout=max(1, round(grace)))
    except Exception as exc:
        sys.stderr.write(f"podium: cannot stop the container: {exc}\n")


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m podium_worker.incontainer prepare|exec RUN_DIR``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("prepare", "exec"):
        sys.stderr.write(USAGE + "\n")
        return 2
    run_dir = Path(args[1])
    if args[0] == "prepare":
        return prepare(run_dir)
    command = json.loads(sys.stdin.buffer.read())  # first: the executor writes it all before it reads us
    return execute(run_dir, command)


if __name__ == "__main__":
    sys.exit(main())
