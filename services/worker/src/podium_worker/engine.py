"""The Docker engine calls of jobs in containers (docs/jobs.md, Jobs in containers).

Through the official `docker` SDK (docker-py, maintained by Docker): its calls are blocking,
which suits the one process that makes most of them, `podium_worker.incontainer` (one per
command, doing one thing at a time), and the worker makes its few (the check at start, the
orphan sweep, the removal at clean) in a thread. aiodocker would bring aiohttp into the worker
for those few calls and still need a blocking client in the helper. The engine is the one
DOCKER_HOST names (DOCKER_TLS_VERIFY and DOCKER_CERT_PATH apply), else the default socket.

One container per run, labelled ``podium.run=<id>`` and ``podium.worker=<id>``, created once
from the job's image with `podium_worker.keepalive` as its entrypoint (so no image needs a
shell or ``sleep``), the workspace bind-mounted; each command is an exec into it. Secrets and
parameters travel in each exec's environment, never in the container's configuration or labels.
"""

from __future__ import annotations

import io
import logging
import shutil
import tarfile
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container
from docker.models.images import Image

from podium_worker import _runfiles as files
from podium_worker import keepalive

logger = logging.getLogger(__name__)

RUN_LABEL = "podium.run"
WORKER_LABEL = "podium.worker"
INIT = "/.podium-init"
"""Where the keep-alive init is copied in each container."""
TIMEOUT = 60
"""Seconds an engine call may take."""
UNBOUNDED = 366 * 86400
"""The timeout of a pull or of a command's output stream: the executor's timeout and abort rule those."""


class EngineError(Exception):
    """The engine could not do what the run needed; the message is the run's reason."""


def client(timeout: int = TIMEOUT) -> docker.DockerClient:
    """A client of the engine of the environment (DOCKER_HOST, else the default socket)."""
    return docker.from_env(timeout=timeout)


def check(engine: docker.DockerClient) -> str:
    """The engine's version, once it answered and runs containers this worker can start.

    Raises:
        EngineError: no engine answers, or it runs another architecture than the keep-alive's.
    """
    try:
        info: dict[str, Any] = engine.info()
        version: dict[str, Any] = engine.version()
    except docker.errors.DockerException as exc:
        raise EngineError(f"the Docker engine does not answer: {exc}") from exc
    if info.get("Architecture") != keepalive.MACHINE:
        raise EngineError(
            f"the Docker engine runs {info.get('Architecture')} containers; jobs in containers need "
            f"{keepalive.MACHINE} (the keep-alive init of each container is built for it)"
        )
    return str(version.get("Version", "?"))


def image(engine: docker.DockerClient, name: str, pull: str) -> Image:
    """The image `name`, pulled as `pull` says (never, missing, always).

    Raises:
        EngineError: it is not there and may not be pulled, or cannot be pulled.
    """
    if pull != "always":
        try:
            return engine.images.get(name)
        except docker.errors.ImageNotFound:
            if pull == "never":
                raise EngineError(f"image {name} is not on the engine and the job says pull: never") from None
        except docker.errors.DockerException as exc:
            raise EngineError(f"cannot read image {name}: {_explain(exc)}") from exc
    try:
        return engine.images.pull(name)
    except docker.errors.DockerException as exc:
        raise EngineError(f"cannot pull image {name}: {_explain(exc)}") from exc


def digest(found: Image) -> str:
    """The image's registry digest (``name@sha256:...``) when it came from one, else its id."""
    repo_digests: list[str] = found.attrs.get("RepoDigests") or []
    return repo_digests[0] if repo_digests else str(found.id)


def create(engine: docker.DockerClient, run_dir: Path, request: dict[str, Any], found: Image) -> Container:
    """Create and start the run's container (stopped at once if anything after the creation fails).

    Raises:
        EngineError: the engine refused.
    """
    definition = request["definition"]
    settings: dict[str, Any] = definition.get("container") or {}
    exchange = run_dir / files.EXCHANGE
    exchange.mkdir(exist_ok=True)
    exchange.chmod(0o777)  # the container's user writes PODIUM_RESULTS there, whoever it is
    payload = run_dir / files.PAYLOAD
    if payload.exists():  # a webhook run's body: PODIUM_PAYLOAD in the container
        shutil.copyfile(payload, exchange / files.PAYLOAD)
        (exchange / files.PAYLOAD).chmod(0o644)
    workspace = run_dir / files.WORKSPACE
    if settings.get("user"):
        workspace.chmod(0o777)  # the run directory above stays closed to the host's other users
    options: dict[str, Any] = {
        "entrypoint": [INIT],
        "command": [],
        "labels": {
            RUN_LABEL: request["run_id"],
            WORKER_LABEL: str(request["worker"].get("id", "")),
            "podium.project": request["project"],
            "podium.job": request["job"],
        },
        "volumes": {
            str(workspace.resolve()): {"bind": files.CONTAINER_WORKSPACE, "mode": "rw"},
            str(exchange.resolve()): {"bind": files.CONTAINER_EXCHANGE, "mode": "rw"},
        },
        "working_dir": settings.get("workdir") or files.CONTAINER_WORKSPACE,
        "network_mode": settings.get("network") or "bridge",
        "name": f"podium-run-{request['run_id']}",
    }
    if settings.get("user"):
        options["user"] = settings["user"]
    if settings.get("cpus"):
        options["nano_cpus"] = int(settings["cpus"] * 1e9)
    if settings.get("memory"):
        from podium_model.jobs import memory_bytes  # pydantic and every model: only a run that needs it

        options["mem_limit"] = memory_bytes(settings["memory"])
    try:
        container: Container = engine.containers.create(found, **options)
    except docker.errors.DockerException as exc:
        raise EngineError(f"cannot create a container of {definition['image']}: {_explain(exc)}") from exc
    try:
        container.put_archive("/", _init_archive())
        container.start()
    except docker.errors.DockerException as exc:
        remove(container)
        raise EngineError(f"cannot start a container of {definition['image']}: {_explain(exc)}") from exc
    return container


def _init_archive() -> bytes:
    """A tar holding the keep-alive init at INIT, executable by anyone."""
    data = keepalive.program()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        member = tarfile.TarInfo(INIT.lstrip("/"))
        member.size = len(data)
        member.mode = 0o755
        archive.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


def remove(container: Container) -> None:
    """Remove a container, running or not; one gone already is no error."""
    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        pass


def run_containers(engine: docker.DockerClient, worker_id: str) -> dict[str, Container]:
    """The run containers of this worker, by run id."""
    found = engine.containers.list(all=True, filters={"label": f"{WORKER_LABEL}={worker_id}"})
    return {str(c.labels.get(RUN_LABEL)): c for c in found if c.labels.get(RUN_LABEL)}


def remove_run(engine: docker.DockerClient, run_id: str) -> None:
    """Remove the container of one run, if it has one."""
    for container in engine.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_id}"}):
        remove(container)


def remove_orphans(engine: docker.DockerClient, worker_id: str, held: set[str]) -> list[str]:
    """Remove this worker's containers whose run it no longer holds; the run ids they were of."""
    removed = []
    for run_id, container in run_containers(engine, worker_id).items():
        if run_id not in held:
            remove(container)
            removed.append(run_id)
    return removed


def _explain(exc: docker.errors.DockerException) -> str:
    """What the engine said, without the HTTP noise around it."""
    if isinstance(exc, docker.errors.APIError) and exc.explanation:
        return str(exc.explanation)
    return str(exc)
