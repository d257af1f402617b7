"""Jobs in containers: master, api and a `podium-worker --containers docker` as processes, on the engine.

The images are the stand-ins of engine.sh (nothing is pulled from a public registry): the
busybox one holds a static busybox, its own /etc/os-release and one file, and nothing else (no
shell on the PATH, no `sleep`), so these runs prove that no image needs either.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.containers.conftest import stand_in_images
from tests.stack import Stack
from tests.support import wait_until

# The first test's setup runs engine.sh, which on a fresh machine installs the engine and
# builds the stand-in images (up to its own 20 minutes): the default 120 s would kill it and
# every later test would start the build again.
pytestmark = pytest.mark.timeout(1500)

BUSYBOX = "/bin/busybox"
SECRET = "box-secret-value-4c1e"


def _docker(*args: str) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _containers_of(run_id: str) -> list[str]:
    """`docker ps -a` of the run's label: the ids of its containers, running or not."""
    return _docker("ps", "-a", "-q", "--filter", f"label=podium.run={run_id}").split()


@pytest.fixture(scope="module")
def image() -> str:
    """The busybox stand-in image (engine.sh builds it once)."""
    return stand_in_images()["PODIUM_BUSYBOX_IMAGE"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, image: str) -> Iterator[Stack]:
    """master, api and one worker running containers, on SQLite; the jobs applied over HTTP."""
    directory = tmp_path_factory.mktemp("containers-stack")
    running = Stack(directory, f"sqlite+aiosqlite:///{directory}/podium.db")
    try:
        running.prepare()
        running.start_master()
        running.start_api()
        running.start_worker("boxes", 2, extra=("--containers", "docker"))
        jobs = [
            {
                "id": "release",
                "definition": {
                    "type": "job",
                    "image": image,
                    "commands": [[BUSYBOX, "cat", "/etc/os-release", "/etc/only-in-the-image"]],
                },
            },
            {
                "id": "share",
                "definition": {
                    "type": "job",
                    "image": image,
                    "container": {"network": "none", "memory": "64m", "cpus": 0.5},
                    "environment": {"GREETING": "hello {parameters.who}"},
                    "commands": [
                        [BUSYBOX, "sh", "-c", 'echo "$GREETING" > made-by-one && pwd'],
                        [BUSYBOX, "sh", "-c", 'cat made-by-one; echo \'{{"shared": true}}\' > "$PODIUM_RESULTS"'],
                    ],
                },
                "parameters": [{"key": "who", "default": "world"}],
            },
            {
                "id": "stubborn",
                "definition": {
                    "type": "job",
                    "image": image,
                    "commands": [
                        [BUSYBOX, "sh", "-c", "trap 'echo stopping; exit 3' TERM; echo started; "
                         "while :; do " + BUSYBOX + " sleep 0.1; done"],
                    ],
                },
            },
            {
                "id": "counting",
                "definition": {
                    "type": "job",
                    "image": image,
                    "commands": [
                        [BUSYBOX, "sh", "-c", "for i in $(" + BUSYBOX + " seq 1 30); do echo line $i; "
                         + BUSYBOX + " sleep 0.1; done"],
                    ],
                },
            },
            {
                "id": "sneaky",
                "parameters": [{"key": "target"}],
                "definition": {
                    "type": "job",
                    "image": image,
                    "commands": [
                        [BUSYBOX, "sh", "-c", BUSYBOX + ' rm "$PODIUM_RESULTS" && ' + BUSYBOX
                         + ' ln -s {parameters.target} "$PODIUM_RESULTS"'],
                    ],
                },
            },
            {
                "id": "lacking",
                "definition": {"type": "job", "image": image, "commands": [["make", "all"]]},
            },
            {
                "id": "missing",
                "definition": {
                    "type": "job",
                    "image": "podium-test/no-such-image:1",
                    "container": {"pull": "never"},
                    "commands": [[BUSYBOX, "true"]],
                },
            },
            {
                "id": "unpullable",
                "definition": {
                    "type": "job",
                    "image": "127.0.0.1:9/podium-test/nowhere:1",  # a registry that refuses at once
                    "commands": [[BUSYBOX, "true"]],
                },
            },
        ]  # fmt: skip
        answer = running.client.put("/admin/configuration", json={"projects": [{"id": "boxes", "jobs": jobs}]})
        assert answer.status_code == 200, answer.text
        answer = running.client.put("/projects/boxes/secrets/BOX_SECRET", json={"value": SECRET})
        assert answer.status_code == 200, answer.text
        jobs.append(
            {
                "id": "secretive",
                "definition": {
                    "type": "job",
                    "image": image,
                    "secrets": ["BOX_SECRET"],
                    "commands": [
                        [BUSYBOX, "sh", "-c", f'test "$BOX_SECRET" = {SECRET} && echo has it: $BOX_SECRET; '
                         "while [ ! -e done ]; do " + BUSYBOX + " sleep 0.05; done"],
                    ],
                },
            }
        )  # fmt: skip
        jobs.append(
            {
                "id": "endless",
                "definition": {
                    "type": "job",
                    "image": image,
                    "timeout": 1,
                    "commands": [[BUSYBOX, "sh", "-c", "while :; do " + BUSYBOX + " sleep 0.1; done"]],
                },
            }
        )
        answer = running.client.put("/admin/configuration", json={"projects": [{"id": "boxes", "jobs": jobs}]})
        assert answer.status_code == 200, answer.text
        yield running
    finally:
        running.stop()


def _ended(stack: Stack, run: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    return stack.wait_run("boxes", run["id"], timeout=timeout)


def test_a_job_with_an_image_runs_in_it(stack: Stack) -> None:
    """The commands see the image's /etc/os-release and a file only the image has, not the host's."""
    run = _ended(stack, stack.trigger("boxes", "release"))
    log = stack.log("boxes", run["id"])
    assert run["status"] == "succeeded", (run["reason"], log, stack.outputs())
    assert b'PRETTY_NAME="Podium test busybox"' in log
    assert b"only in the podium-test/busybox image" in log
    assert run["worker"] == "boxes"
    image_id = _docker("image", "inspect", "--format", "{{.Id}}", run["image"]).strip()
    assert (
        run["image"].startswith("podium-test/busybox:") and run["image_digest"] == image_id
    )  # built here: no registry


def test_two_commands_share_the_workspace(stack: Stack) -> None:
    """A file the first command writes is there for the second; results come back; limits are taken."""
    run = _ended(stack, stack.trigger("boxes", "share", who="boxes"))
    log = stack.log("boxes", run["id"])
    assert run["status"] == "succeeded", (run["reason"], log, stack.outputs())
    assert log == b"/podium/workspace\nhello boxes\n"
    assert run["results"] == {"shared": True}
    assert run["image_digest"].startswith("sha256:")


def test_abort_stops_the_container_within_the_grace_and_cleaning_removes_it(stack: Stack) -> None:
    """SIGTERM reaches the command in the container; the run ends aborted; no container is left."""
    run = stack.trigger("boxes", "stubborn")
    stack.wait_run("boxes", run["id"], {"running"}, timeout=60)
    wait_until(lambda: b"started" in stack.log("boxes", run["id"]), 60, "the command to start")
    assert len(_containers_of(run["id"])) == 1
    asked = time.monotonic()
    answer = stack.client.post(f"/projects/boxes/runs/{run['id']}/abort")
    assert answer.status_code in (200, 202), answer.text
    ended = _ended(stack, run, timeout=60)
    took = time.monotonic() - asked
    assert ended["status"] == "aborted", (ended, stack.outputs())
    assert took < 10, f"the abort took {took:.1f} s, the grace is 10 s"  # the trap ends it at once
    assert b"stopping" in stack.log("boxes", run["id"])  # SIGTERM, not SIGKILL
    wait_until(lambda: not _containers_of(run["id"]), 60, "the cleaned run's container to be removed")


def test_a_missing_image_ends_the_run_exception_naming_it(stack: Stack) -> None:
    """pull: never and no such image, or a registry that cannot be reached: exception, the image named."""
    for job, image in [("missing", "podium-test/no-such-image:1"), ("unpullable", "127.0.0.1:9/podium-test/nowhere:1")]:
        run = _ended(stack, stack.trigger("boxes", job))
        assert run["status"] == "exception", (run, stack.outputs())
        assert image in (run["reason"] or ""), run
        assert run["image"] is None  # it never ran in one
        wait_until(lambda run=run: not _containers_of(run["id"]), 60, "no container left")


def test_a_command_the_image_lacks_fails_the_run(stack: Stack) -> None:
    """The image has no `make`: the run ends failed, the engine's exit code and message said."""
    run = _ended(stack, stack.trigger("boxes", "lacking"))
    assert run["status"] == "failed", (run, stack.outputs())
    assert run["reason"] in ("command 1 (make) exited with code 126", "command 1 (make) exited with code 127"), run
    assert b"make" in stack.log("boxes", run["id"])


def test_a_restarted_worker_keeps_its_running_container_and_removes_orphans(stack: Stack, image: str) -> None:
    """SIGKILL the worker mid-run: the run goes on in its container, its log whole; an orphan goes."""
    run = stack.trigger("boxes", "counting")
    wait_until(lambda: b"line 3\n" in stack.log("boxes", run["id"]), 60, "the first lines")
    worker = stack.workers["boxes"]
    worker.kill()
    orphan = _docker(
        "create", "--label", "podium.worker=boxes", "--label", "podium.run=a-run-this-worker-never-had",
        image, "/bin/busybox", "true",
    ).strip()  # fmt: skip
    assert _containers_of(run["id"]), "the run's container must survive the worker"
    worker.start()
    wait_until(lambda: not _containers_of("a-run-this-worker-never-had"), 60, f"the orphan {orphan} removed")
    ended = _ended(stack, run)
    assert ended["status"] == "succeeded", (ended["reason"], stack.outputs())
    assert stack.log("boxes", run["id"]) == b"".join(b"line %d\n" % i for i in range(1, 31))
    wait_until(lambda: not _containers_of(run["id"]), 60, "the cleaned run's container removed")


def test_secrets_reach_the_command_but_not_the_container_configuration(stack: Stack) -> None:
    """The command sees its secret (masked in the log); `docker inspect` of its container shows none of it."""
    run = stack.trigger("boxes", "secretive")
    wait_until(lambda: b"has it" in stack.log("boxes", run["id"]), 60, "the command to read its secret")
    (container,) = _containers_of(run["id"])
    inspected = _docker("inspect", container)
    assert SECRET not in inspected and "BOX_SECRET" not in inspected
    labels = json.loads(inspected)[0]["Config"]["Labels"]
    assert labels["podium.run"] == run["id"] and labels["podium.worker"] == "boxes"
    workspace = json.loads(inspected)[0]["Mounts"]
    source = next(m["Source"] for m in workspace if m["Destination"] == "/podium/workspace")
    Path(source, "done").touch()  # the workspace is the worker's directory, mounted
    ended = _ended(stack, run)
    assert ended["status"] == "succeeded", (ended["reason"], stack.outputs())
    assert stack.log("boxes", run["id"]) == b"has it: [masked]\n"


def test_a_timeout_stops_the_container(stack: Stack) -> None:
    """A run over its timeout ends aborted, its container stopped, then removed."""
    run = _ended(stack, stack.trigger("boxes", "endless"), timeout=60)
    assert run["status"] == "aborted" and run["reason"] == "timeout after 1 s", (run, stack.outputs())
    wait_until(lambda: not _containers_of(run["id"]), 60, "the cleaned run's container removed")


def test_results_left_as_a_symlink_are_never_followed_on_the_host(stack: Stack, tmp_path: Path) -> None:
    """A command that makes PODIUM_RESULTS a symlink to a host path reads nothing of it: the run ends exception."""
    host_file = tmp_path / "host-only.json"
    host_file.write_text('{"leaked": true}')
    run = _ended(stack, stack.trigger("boxes", "sneaky", target=str(host_file)))
    assert run["status"] == "exception" and "invalid results" in run["reason"], (run, stack.outputs())
    assert run["results"] == {} and host_file.read_text() == '{"leaked": true}'
