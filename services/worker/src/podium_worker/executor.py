"""The executor: one process per run, ``python -m podium_worker.executor RUN_DIR``.

It runs the commands of ``RUN_DIR/request.json`` one after another, each in its own process
group, without a shell, with the environment of `podium_worker.environment` (never the
worker's whole environment), and writes the run's log, results and state into ``RUN_DIR`` (the
layout is in `podium_worker._runfiles`). It lives in its own session and never depends on
the worker process: when the worker dies, the run carries on and its files stay complete.
A job with an image runs in a container instead (docs/jobs.md, Jobs in containers): each of its
commands is a `podium_worker.incontainer` helper process, which talks to the engine, so that
this process stays engine-free and is the same for both.
After each log write and each state change it writes one byte to its stdout, a pipe the
worker may watch; a closed or full pipe is ignored.

Stdlib only, and only the cheap parts of it: this start sits on every run's critical path.
"""

from __future__ import annotations

import errno
import json
import os
import select
import signal
import stat
import sys
import time

from podium_templates import TemplateError, check, render
from podium_worker import _runfiles as files
from podium_worker import environment, runas
from podium_worker.masking import Masker

TYPE_CHECKING = False  # typing costs milliseconds on every run's start
if TYPE_CHECKING:
    from typing import Any

CHUNK = 65536
LINGER = 5.0
"""Seconds to wait for a command's pipe to close once the command is over and its group killed."""
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
FULL_RETRY_FIRST = 0.1
FULL_RETRY_MAX = 5.0
"""While the disk is full, the log write is retried after 0.1 s, doubling up to 5 s."""
MAX_RESULTS = 1 << 20
"""A run's results document at most, in bytes: `podium_model.limits.RESULTS_BYTES` (not imported:
this module stays stdlib only), each command's file and the merged document alike."""
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
STEP_ARGV_BYTES = 512
"""A step's argv as recorded, its arguments together: `podium_model.limits.STEP_ARGV_BYTES`."""


def _now() -> str:
    """The current time as ISO 8601 UTC with offset (``datetime`` costs a start-up import)."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}+00:00"


def _note(message: str) -> None:
    """Write a diagnostic line to the executor's stderr (``RUN_DIR/executor.err``)."""
    try:
        sys.stderr.write(f"{_now()} {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


class Ended(Exception):
    """The run ends now with `status` and `reason`."""

    def __init__(self, status: str, reason: str | None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _which(program: str, env: dict[str, str]) -> str:
    """Find `program` on the command's PATH, as ``subprocess`` would (posix_spawnp uses ours)."""
    if "/" in program:
        return program
    denied = None
    for folder in env.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(folder or ".", program)
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return candidate
            denied = candidate
    if denied is not None:
        raise PermissionError(errno.EACCES, "permission denied", denied)
    raise FileNotFoundError(errno.ENOENT, "not found on PATH", program)


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except OSError:
        pass  # the group is gone already


class Executor:
    """Runs one run directory to its end; `execute` never raises."""

    def __init__(self, run_dir: str) -> None:
        self.run_dir = os.path.abspath(run_dir)
        self.started = time.monotonic()
        self.started_at = _now()
        self.run_id = os.path.basename(self.run_dir)
        self.results: dict[str, Any] = {}
        self.abort: tuple[str, float] | None = None
        self.deadline: float | None = None
        self.timeout: float | None = None
        self.stopped: str | None = None  # why the running command was stopped
        self.log_fd = -1
        self.notify_fd: int | None = 1
        self.wakeup = -1
        self.secrets: dict[str, str] = {}
        self.held_environment: dict[str, str] = {}  # the request's variables kept off the disk
        self.held_parameters: dict[str, str] = {}  # the secret parameters' values, kept off the disk too
        self.handover_error: str | None = None
        self.masker: Masker | None = None  # None: the run has neither secrets nor a token
        self.user: runas.User | None = None  # the --run-as user commands run as, if any
        self.keep: list[str] = []  # the job's artifact globs
        self.artifacts: list[dict[str, Any]] = []  # what was kept of them
        self.image: str | None = None  # the job's image: its commands run in a container
        self.image_digest: str | None = None  # known once its container started
        self.steps: list[dict[str, Any]] = []  # one per command started, written with each state

    def path(self, name: str) -> str:
        """The absolute path of one file of the run directory."""
        return os.path.join(self.run_dir, name)

    def execute(self) -> int:
        """Run everything, write the final state and return the process exit code."""
        self._install_signals()
        self._take_handover()
        try:
            files.write_pid(self.path(files.PID), os.getpid())
        except OSError as exc:
            _note(f"cannot use the run directory {self.run_dir}: {exc}")
            return 1
        try:
            status, reason = self._run()
        except Ended as end:
            status, reason = end.status, end.reason
        except Exception as exc:  # an executor bug must still end the run
            import traceback

            _note("internal error:\n" + traceback.format_exc())
            status, reason = "exception", f"internal executor error: {exc!r}"
        if reason and self.masker is not None:
            reason = self.masker.text(reason)
        if self.keep and status in ("succeeded", "failed"):
            self._collect()
        if self.user is not None and os.path.isdir(self.path(files.WORKSPACE)):
            self._give_back_workspace()
        if reason and status == "exception":
            _note(f"run ended {status}: {reason}")
        delay = FULL_RETRY_FIRST
        while True:
            try:
                self._write_state(status, reason, final=True)
                return 0
            except OSError as exc:
                if exc.errno not in DISK_FULL:
                    _note(f"cannot write the final state: {exc}")
                    return 1
                if delay == FULL_RETRY_FIRST:
                    _note("disk full: the final state waits for space")
            time.sleep(delay)  # nothing else to do: the run is over, only its state is to be written
            delay = min(delay * 2, FULL_RETRY_MAX)

    def _install_signals(self) -> None:
        read_fd, write_fd = os.pipe()
        for fd in (read_fd, write_fd):
            os.set_blocking(fd, False)
        self.wakeup = read_fd
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        for sig in (*STOP_SIGNALS, signal.SIGCHLD, signal.SIGHUP):
            signal.signal(sig, lambda signum, frame: None)  # the wakeup fd carries the news
        try:
            if stat.S_ISFIFO(os.fstat(1).st_mode):
                os.set_blocking(1, False)  # a stalled worker must never block the run
        except OSError:
            self.notify_fd = None

    def _give_back_workspace(self) -> None:
        """The run is over: its workspace is root's again, closed to the next runs of the user."""
        try:
            os.chown(self.path(files.WORKSPACE), 0, 0)
            os.chmod(self.path(files.WORKSPACE), 0o700)
        except OSError as exc:
            _note(f"cannot give the workspace back to root: {exc}")

    def _results_file(self, value: dict[str, Any]) -> None:
        """Write ``PODIUM_RESULTS`` (the run-as user's to write, when there is one)."""
        path = self.path(files.RESULTS)
        files.write_json_atomic(path, value)
        if self.user is not None:
            os.chown(path, self.user.uid, self.user.gid)

    def _take_handover(self) -> None:
        """Read the secrets the worker handed over on stdin, then leave /dev/null there."""
        try:
            self.secrets, self.held_environment, self.held_parameters = files.read_handover(0)
        except ValueError as exc:
            self.handover_error = str(exc)
        try:
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)  # frees the memory file, and nothing reads a secret from fd 0 again
            os.close(null)
        except OSError as exc:
            _note(f"cannot reopen stdin on {os.devnull}: {exc}")

    def _notify(self) -> None:
        if self.notify_fd is None:
            return
        try:
            os.write(self.notify_fd, b".")
        except BlockingIOError:
            pass  # the pipe is full: the reader has a wake-up pending already
        except OSError:
            self.notify_fd = None  # the worker is gone (EPIPE): carry on without it

    def _drain_signals(self) -> None:
        try:
            data = os.read(self.wakeup, 512)
        except BlockingIOError:
            return
        if any(signum in STOP_SIGNALS for signum in data):
            abort = files.read_abort(self.run_dir) or ("terminated by a signal", files.DEFAULT_GRACE)
            if self.abort is None or abort[1] < self.abort[1]:
                self.abort = abort

    def _write_state(self, status: str, reason: str | None = None, final: bool = False) -> None:
        state = {
            "run_id": self.run_id,
            "status": status,
            "log_size": os.fstat(self.log_fd).st_size if self.log_fd >= 0 else 0,
            "results": self.results if self.masker is None else self.masker.json(self.results),
            "reason": reason,
            "started_at": self.started_at,
            "completed_at": _now() if final else None,
            "steps": self.steps,
        }
        if self.image_digest is not None:
            state["image"] = self.image
            state["image_digest"] = self.image_digest
        if final and self.artifacts:
            state["artifacts"] = self.artifacts
        try:
            files.write_json_atomic(self.path(files.STATE), state)
        except OSError as exc:
            if final or exc.errno not in DISK_FULL:
                raise
            return  # a running state is news, not a record: the final one is retried until written
        self._notify()

    def _append_log(self, data: bytes) -> bytes:
        """Write `data` to the log; what the disk did not take (it is full), b"" when all went."""
        if not data:
            return b""
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.log_fd, view) :]
        except OSError as exc:
            if exc.errno not in DISK_FULL:
                raise
        self._notify()
        return bytes(view)

    def _run(self) -> tuple[str, str | None]:
        self.log_fd = os.open(self.path(files.LOG), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            request = files.load_request(self.run_dir)
        except ValueError as exc:
            raise Ended("exception", str(exc)) from exc
        self.run_id = request["run_id"]
        if self.handover_error is not None:
            raise Ended("exception", self.handover_error)
        token = self.held_environment.get("PODIUM_TOKEN") or request["environment"].get("PODIUM_TOKEN")
        request["parameters"].update(self.held_parameters)
        hidden = [value for value in self.held_parameters.values() if value]  # "": an optional one not given
        masked = [*self.secrets.values(), *hidden, *([token] if token else [])]
        if masked:
            self.masker = Masker(masked)  # before any byte of the log is written
        abort = files.read_abort(self.run_dir)
        if abort is not None:
            return "aborted", abort[0]
        definition = request["definition"]
        self.keep = definition.get("artifacts") or []
        if definition.get("timeout"):
            self.timeout = definition["timeout"]
            self.deadline = self.started + definition["timeout"]
        self.image = definition.get("image")
        run_as = os.environ.get(runas.RUN_AS)
        if run_as and self.image is None:  # a container's user is the job's `container.user`
            if os.geteuid() != 0:
                raise Ended("exception", f"--run-as {run_as} needs the worker (and its executors) to run as root")
            try:
                self.user = runas.lookup(run_as)
            except ValueError as exc:
                raise Ended("exception", str(exc)) from exc
        workspace = self.path(files.WORKSPACE)
        os.makedirs(workspace, exist_ok=True)
        if self.user is not None:
            os.chown(workspace, self.user.uid, self.user.gid)
            os.chmod(workspace, 0o700)
        os.chdir(workspace)  # posix_spawn has no cwd argument; every path here is absolute
        self._results_file({})
        payload = self.path(files.PAYLOAD)
        has_payload = os.path.exists(payload)  # a webhook run's body (`podium_worker._runfiles`)
        if has_payload and self.user is not None:
            os.chown(payload, self.user.uid, self.user.gid)
        # No state is written here for a run on the host: its first command's step writes the
        # `running` state (one state write per command, as many as before for a one-command job).
        # A run in a container says it runs once it has its image's digest.
        context: dict[str, dict[str, Any]] = {
            "parameters": request["parameters"],
            "run": {"id": request["run_id"], "project": request["project"], "job": request["job"]},
            "worker": request["worker"],
            "results": self.results,
        }
        commands: list[list[str]] = definition["commands"]
        templates = {f"command {i} argv[{j}]": arg for i, cmd in enumerate(commands, 1) for j, arg in enumerate(cmd)}
        templates.update({f"environment variable {key}": value for key, value in definition["environment"].items()})
        for where, template in templates.items():
            try:
                check(template, context)
            except TemplateError as exc:
                raise Ended("exception", f"template error in {where}: {exc}") from exc
        user = self.user
        # Never the worker's whole environment: it may hold its token. A container has the
        # image's own (PATH, HOME...): none of the host's.
        if self.image is not None:
            env: dict[str, str] = {}
            self._start_container()
            self._write_state("running")
        else:
            env = environment.base(os.environ, user.home, user.name) if user else environment.base(os.environ)
        results_path = files.CONTAINER_RESULTS if self.image else self.path(files.RESULTS)
        workspace_path = files.CONTAINER_WORKSPACE if self.image else workspace
        payload_path = f"{files.CONTAINER_EXCHANGE}/{files.PAYLOAD}" if self.image else payload  # copied there
        for index, command in enumerate(commands, 1):
            self._drain_signals()
            if (reason := self._stop_reason()) is not None:
                raise Ended("aborted", reason)
            try:
                argv = [render(arg, context) for arg in command]
                env.update({key: render(value, context) for key, value in definition["environment"].items()})
            except TemplateError as exc:
                raise Ended("exception", f"template error in command {index}: {exc}") from exc
            env.update(request["environment"])
            env.update(self.held_environment)
            env.update(self.secrets)
            env.update(environment.parameters(request["parameters"]))
            env.update(
                PODIUM_RUN_ID=request["run_id"],
                PODIUM_PROJECT=request["project"],
                PODIUM_JOB=request["job"],
                PODIUM_RESULTS=results_path,
                PODIUM_WORKSPACE=workspace_path,
            )
            if has_payload:
                env["PODIUM_PAYLOAD"] = payload_path
            step = self._start_step(index, argv)
            try:
                code = self._run_command(index, argv, env)
            finally:
                step["completed_at"] = _now()  # written with the next state: the next step's or the final
            step["exit_code"] = code
            if self.image is not None and code == files.ENGINE_FAILED:
                self._engine_failure()
            self._merge_results(index, ok=code == 0 and self.stopped is None)
            if self.stopped is not None:
                raise Ended("aborted", self.stopped)
            if code != 0:
                how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
                return "failed", f"command {index} ({argv[0]}) {how}"
        return "succeeded", None

    def _collect(self) -> None:
        """Keep the files the job's artifact globs match (`podium_worker._collect`), saying so in the log."""
        from podium_worker import _collect  # only a job that keeps artifacts pays for the import

        def say(line: str) -> None:
            text = f"[podium] {line}\n"
            if self.masker is not None:
                text = self.masker.text(text)
            self._append_log(text.encode("utf-8", "backslashreplace"))

        try:
            owner = self.user.uid if self.user is not None else None
            self.artifacts = _collect.collect(self.run_dir, self.path(files.WORKSPACE), self.keep, owner, say)
        except OSError as exc:
            _note(f"cannot collect the artifacts: {exc}")
            say(f"artifacts not kept: {exc}")

    def _helper(self, step: str) -> list[str]:
        """The argv of a `podium_worker.incontainer` step for this run."""
        return [sys.executable, "-m", "podium_worker.incontainer", step, self.run_dir]

    def _start_container(self) -> None:
        """Get the image and start the run's container (the helper's output goes to the log)."""
        code = self._run_command(0, self._helper("prepare"), dict(os.environ))
        if self.stopped is not None:
            raise Ended("aborted", self.stopped)
        self._engine_failure()
        if code != 0:
            raise Ended("exception", f"the container of {self.image} did not start (the helper exited {code})")
        record = files.read_json(self.path(files.CONTAINER))
        self.image_digest = str(record.get("digest") or "") if isinstance(record, dict) else ""

    def _engine_failure(self) -> None:
        """End the run `exception` if the helper recorded that the engine failed it."""
        try:
            with open(self.path(files.CONTAINER_ERROR), encoding="utf-8") as file:
                reason = file.read()
        except FileNotFoundError:
            return
        raise Ended("exception", reason)

    def _start_step(self, index: int, argv: list[str]) -> dict[str, Any]:
        """Record that command `index` starts now, where its output begins, and write the state."""
        recorded: list[str] = []
        room = STEP_ARGV_BYTES
        for arg in argv:
            shown = arg if self.masker is None else self.masker.text(arg)
            data = shown.encode("utf-8", "replace")  # a lone surrogate must not break the state's JSON
            if len(data) > room:
                recorded.append(data[: max(0, room - 3)].decode("utf-8", "ignore") + "…")
                break
            recorded.append(data.decode("utf-8"))
            room -= len(data)
        step = {
            "index": index,
            "argv": recorded,
            "started_at": _now(),
            "completed_at": None,
            "exit_code": None,
            "log_offset": os.fstat(self.log_fd).st_size,
        }
        self.steps.append(step)
        self._write_state("running")
        return step

    def _stop_reason(self) -> str | None:
        """Why the run must stop now (an abort request or the timeout), if it must."""
        if self.abort is not None:
            return self.abort[0]
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return f"timeout after {self.timeout:g} s"
        return None

    def _spawn(self, index: int, argv: list[str], env: dict[str, str], out: int) -> int:
        if self.image is not None and index > 0:
            return self._spawn_in_container(index, argv, env, out)
        try:
            if self.user is not None:
                return runas.spawn(_which(argv[0], env), argv, env, out, self.user)
            return os.posix_spawn(
                _which(argv[0], env),
                argv,
                env,
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, out, 1),
                    (os.POSIX_SPAWN_DUP2, out, 2),
                ],
                setsid=True,
                setsigdef=(signal.SIGPIPE, signal.SIGXFSZ, signal.SIGHUP),
            )
        except (OSError, ValueError) as exc:
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise Ended("exception", f"command {index}: cannot start {argv[0]!r}: {detail}") from exc

    def _spawn_in_container(self, index: int, argv: list[str], env: dict[str, str], out: int) -> int:
        """Start the helper that execs command `index` in the container; it reads the command on stdin."""
        command = json.dumps({"argv": argv, "env": env}).encode()
        read_fd, write_fd = os.pipe()
        try:
            pid = os.posix_spawn(
                sys.executable,
                self._helper("exec"),
                dict(os.environ),
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, read_fd, 0),
                    (os.POSIX_SPAWN_DUP2, out, 1),
                    (os.POSIX_SPAWN_DUP2, out, 2),
                ],
                setsid=True,
                setsigdef=(signal.SIGPIPE, signal.SIGXFSZ, signal.SIGHUP),
            )
        except OSError as exc:
            os.close(write_fd)
            raise Ended("exception", f"command {index}: cannot start the container helper: {exc.strerror}") from exc
        finally:
            os.close(read_fd)
        try:
            view = memoryview(command)
            while view:  # the helper reads it all first, before any output: no deadlock
                view = view[os.write(write_fd, view) :]
        except OSError as exc:
            _note(f"command {index}: the container helper did not take its command: {exc}")
        finally:
            os.close(write_fd)
        return pid

    def _run_command(self, index: int, argv: list[str], env: dict[str, str]) -> int:
        """Run one command to its end, copying its output to the log; return its exit code."""
        read_fd, write_fd = os.pipe()
        try:
            pid = self._spawn(index, argv, env, write_fd)
        finally:
            os.close(write_fd)
        poller = select.poll()
        poller.register(read_fd, select.POLLIN)
        poller.register(self.wakeup, select.POLLIN)
        code: int | None = None
        masker = self.masker
        open_pipe = True
        kill_at: float | None = None  # SIGKILL the group then (grace after SIGTERM)
        linger_until: float | None = None  # give up on the pipe then
        stopping = False
        # A full disk pauses the log: the bytes it refused wait here, the pipe is not read
        # meanwhile (the command blocks on its output once the pipe is full), and the write is
        # retried with backoff; nothing is lost and the run resumes when space returns.
        unwritten = b""
        retry_at: float | None = None
        retry_delay = FULL_RETRY_FIRST
        try:
            while open_pipe or code is None:
                timers = (kill_at, linger_until, retry_at, None if stopping else self.deadline)
                deadlines = [t for t in timers if t is not None]
                wait = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
                for fd, _ in poller.poll(None if wait is None else wait * 1000 + 1):
                    if fd == self.wakeup:
                        self._drain_signals()
                        continue
                    data = os.read(read_fd, CHUNK)
                    if not data:
                        open_pipe = False
                        poller.unregister(read_fd)
                    elif unwritten := self._append_log(data if masker is None else masker.feed(data)):
                        _note(f"disk full: the log of command {index} waits for space (its output is not read)")
                        poller.unregister(read_fd)
                        retry_at = time.monotonic() + retry_delay
                now = time.monotonic()
                if retry_at is not None and now >= retry_at:
                    unwritten = self._append_log(unwritten)
                    if unwritten:
                        retry_delay = min(retry_delay * 2, FULL_RETRY_MAX)
                        retry_at = now + retry_delay
                    else:
                        _note(f"disk has space again: the log of command {index} resumes")
                        poller.register(read_fd, select.POLLIN)
                        retry_at, retry_delay = None, FULL_RETRY_FIRST
                        if linger_until is not None:
                            linger_until = now + LINGER  # the output waiting in the pipe is read now
                if unwritten and linger_until is not None and not stopping:
                    linger_until = now + LINGER  # a pause is not a pipe left open
                if not stopping and (reason := self._stop_reason()) is not None:
                    stopping = True
                    self.stopped = reason
                    grace = self.abort[1] if self.abort is not None else files.DEFAULT_GRACE
                    _killpg(pid, signal.SIGTERM)
                    kill_at = now + grace
                elif stopping and self.abort is not None and kill_at is not None:
                    kill_at = min(kill_at, now + self.abort[1])  # a later abort may shorten the grace
                if kill_at is not None and now >= kill_at:
                    _killpg(pid, signal.SIGKILL)
                    kill_at = None
                    linger_until = now + LINGER
                if code is None:
                    code = self._reap(pid)
                if code is not None and open_pipe and linger_until is None and not stopping:
                    _killpg(pid, signal.SIGKILL)  # leftovers of a finished command hold the pipe
                    linger_until = now + LINGER
                if linger_until is not None and now >= linger_until and open_pipe:
                    _note(f"command {index}: its output pipe stayed open after the command ended; closing it")
                    open_pipe = False
                    if unwritten:  # stopped while the disk was full: what it refused is given up
                        _note(f"command {index}: {len(unwritten)} log bytes dropped, the disk stayed full")
                        unwritten, retry_at = b"", None
        finally:
            os.close(read_fd)
            _killpg(pid, signal.SIGKILL)  # nothing of a finished command outlives it
            if masker is not None and (rest := self._append_log(masker.flush())):  # what was held goes out
                _note(f"command {index}: {len(rest)} log bytes dropped, the disk was full at the end")
        assert code is not None
        return code

    @staticmethod
    def _reap(pid: int) -> int | None:
        done, status = os.waitpid(pid, os.WNOHANG)
        return os.waitstatus_to_exitcode(status) if done == pid else None

    def _merge_results(self, index: int, ok: bool) -> None:
        """Merge what command `index` left in ``PODIUM_RESULTS`` into the run's results."""
        path = self.path(files.RESULTS)
        try:
            if os.path.getsize(path) > MAX_RESULTS:
                raise ValueError(f"larger than {MAX_RESULTS} bytes")
            with open(path, encoding="utf-8") as file:
                text = file.read()
            value = json.loads(text) if text.strip() else {}
            if not isinstance(value, dict):
                raise ValueError(f"a JSON object is expected, not {type(value).__name__}")
        except FileNotFoundError:
            value = {}
        except (OSError, ValueError) as exc:
            reason = f"command {index} left invalid results in PODIUM_RESULTS: {exc}"
            if ok:
                raise Ended("exception", reason) from exc
            _note(reason)
            return
        if value:
            merged = {**self.results, **value}
            size = len(json.dumps(merged, ensure_ascii=False, separators=(",", ":")).encode())
            if size > MAX_RESULTS:  # the master would refuse them: end with the results kept so far
                reason = f"the results of command {index} make the run's results {size} bytes, over {MAX_RESULTS}"
                if ok:
                    raise Ended("exception", reason)
                _note(reason)
                return
            self.results.update(value)  # in place: the templates' context holds this dict
            files.write_json_atomic(path, self.results)
            self._write_state("running")


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m podium_worker.executor RUN_DIR``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        _note("usage: python -m podium_worker.executor RUN_DIR")
        return 2
    return Executor(args[0]).execute()


if __name__ == "__main__":
    sys.exit(main())
