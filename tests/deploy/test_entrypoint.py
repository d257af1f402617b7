"""The images' entrypoint, run here as a plain shell script: secret files, default commands, worker slots."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.deploy.tools import REPOSITORY
from tests.support import wait_until

ENTRYPOINT = REPOSITORY / "deploy" / "image" / "entrypoint.sh"


def fake_commands(directory: Path) -> Path:
    """A bin directory whose podium-worker and podium-master print what they were given, then wait for a file."""
    bin_dir = directory / "bin"
    bin_dir.mkdir()
    for name in ("podium-worker", "podium-master"):
        script = bin_dir / name
        script.write_text(
            "#!/bin/sh\n"
            f'echo "{name} $* id=${{PODIUM_WORKER_ID:-}} home=${{PODIUM_WORKER_HOME:-}}'
            " url=${PODIUM_DATABASE_URL:-} file=${PODIUM_CONTROL_SECRET_FILE:-}"
            ' host=${PODIUM_MASTER_HOST:-}" > "$OUT"\n'
            'while [ ! -e "$STOP" ]; do sleep 0.05; done\n'
        )
        script.chmod(0o755)
    return bin_dir


def start(tmp_path: Path, name: str, service: str, *args: str, **env: str) -> tuple[subprocess.Popen[str], Path]:
    """The entrypoint as PODIUM_SERVICE=SERVICE with ARGS; its process and the file its command writes."""
    out = tmp_path / f"{name}.out"
    environment = {
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "PODIUM_SERVICE": service,
        "PODIUM_WORKER_SLOTS": str(tmp_path / "slots"),
        "OUT": str(out),
        "STOP": str(tmp_path / f"{name}.stop"),
        **env,
    }
    process = subprocess.Popen(["sh", str(ENTRYPOINT), *args], env=environment, text=True, stderr=subprocess.PIPE)
    return process, out


def output(out: Path) -> str:
    """What the fake command printed, once it did."""
    return wait_until(lambda: out.read_text() if out.exists() and out.read_text() else None, 20, f"{out.name}")


def stop(tmp_path: Path, name: str, process: subprocess.Popen[str]) -> None:
    """Let the fake command NAME end; the entrypoint (exec'd into it) exits 0."""
    (tmp_path / f"{name}.stop").touch()
    assert process.wait(timeout=20) == 0


def test_workers_take_free_slots_and_a_slot_keeps_its_id_and_home(tmp_path: Path) -> None:
    """Two workers at once get worker-1 and worker-2; after worker-1 stops, the next start is worker-1 again."""
    fake_commands(tmp_path)
    first, first_out = start(tmp_path, "a", "worker")
    assert output(first_out).startswith(f"podium-worker  id=worker-1 home={tmp_path}/slots/1/home")
    second, second_out = start(tmp_path, "b", "worker", "podium-worker")
    assert f"id=worker-2 home={tmp_path}/slots/2/home" in output(second_out)
    stop(tmp_path, "a", first)
    third, third_out = start(tmp_path, "c", "worker", PODIUM_WORKER_ID_PREFIX="other")
    assert "id=worker-1 " in output(third_out)  # the slot's id was chosen at its first use and kept
    stop(tmp_path, "b", second)
    stop(tmp_path, "c", third)


def test_a_given_worker_id_takes_no_slot(tmp_path: Path) -> None:
    """PODIUM_WORKER_ID set (Kubernetes: the pod name): the entrypoint leaves id and home alone."""
    fake_commands(tmp_path)
    process, out = start(tmp_path, "a", "worker", PODIUM_WORKER_ID="pod-0", PODIUM_WORKER_HOME="/h")
    assert "id=pod-0 home=/h" in output(out)
    stop(tmp_path, "a", process)
    assert not (tmp_path / "slots").exists()


def test_secret_files_give_the_values_and_a_missing_one_stops_the_start(tmp_path: Path) -> None:
    """NAME_FILE gives NAME; options alone go to the service's command; a missing or empty file exits 64."""
    fake_commands(tmp_path)
    url = tmp_path / "database-url"
    url.write_text("sqlite:///db\n")
    secret = tmp_path / "control-secret"  # the services read this one themselves: left as a file
    process, out = start(tmp_path, "a", "master", "--config", "x.yaml",
                         PODIUM_DATABASE_URL_FILE=str(url), PODIUM_CONTROL_SECRET_FILE=str(secret))  # fmt: skip
    assert output(out).startswith(
        f"podium-master --config x.yaml id= home= url=sqlite:///db file={secret} host=0.0.0.0"
    )
    stop(tmp_path, "a", process)
    for bad in (tmp_path / "missing", tmp_path / "empty"):
        if bad.name == "empty":
            bad.write_text("")
        process, _ = start(tmp_path, "b", "master", PODIUM_DATABASE_URL_FILE=str(bad))
        assert process.wait(timeout=20) == 64
        assert process.stderr is not None and "PODIUM_DATABASE_URL_FILE" in process.stderr.read()


def test_an_unknown_service_is_refused(tmp_path: Path) -> None:
    """PODIUM_SERVICE names one of the five services, else exit 64 with the reason."""
    process, _ = start(tmp_path, "a", "scheduler")
    assert process.wait(timeout=20) == 64
    assert process.stderr is not None and "scheduler" in process.stderr.read()
