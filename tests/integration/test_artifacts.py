"""Artifacts with real processes: kept files, what is refused, and an upload cut by a worker SIGKILL."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.databases import fresh_database
from tests.stack import Stack, admin
from tests.support import wait_until

BIG = 5 * 1024 * 1024
CONFIG = f"""
projects:
  - id: demo
    jobs:
      - id: build
        definition:
          type: job
          artifacts: ["out/", "report-*.txt", "missing/**"]
          commands:
            - ["sh", "-c", "mkdir -p out/deep && echo alpha > out/a.txt && head -c {BIG} /dev/urandom > out/b.bin"]
            - ["sh", "-c", "ln -s /etc/passwd out/passwd && ln -s /etc out/deep/etc && echo r > report-1.txt"]
            - ["sh", "-c", "echo kept > out/deep/c.txt && echo nope > other.txt && sha256sum out/b.bin"]
      - id: broken
        definition:
          type: job
          artifacts: ["out/*"]
          commands: [["sh", "-c", "mkdir out && echo partial > out/log.txt && exit 3"]]
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """master, api and one worker sending its frames 1 KiB at a time (an upload lasts long enough to cut)."""
    directory = tmp_path_factory.mktemp("artifacts")
    config = directory / "podium.yaml"
    config.write_text(CONFIG)
    with fresh_database("sqlite", directory) as url:
        stack = Stack(directory, url)
        try:
            stack.prepare()
            admin(url, "apply", str(config))
            stack.start_master()
            stack.start_api()
            start_worker(stack)
            yield stack
        finally:
            stack.stop()


def start_worker(stack: Stack) -> None:
    """(Re)start worker w1 with 1 KiB frames, on the same home."""
    os.environ["PODIUM_WORKER_CHUNK_SIZE"] = "1024"
    try:
        stack.start_worker("w1", 2)
    finally:
        del os.environ["PODIUM_WORKER_CHUNK_SIZE"]


def listed(stack: Stack, run_id: str) -> dict[str, dict[str, object]]:
    response = stack.client.get(f"/projects/demo/runs/{run_id}/artifacts")
    assert response.status_code == 200, response.text
    return {item["path"]: item for item in response.json()["items"]}


def download(stack: Stack, run_id: str, path: str) -> bytes:
    response = stack.client.get(f"/projects/demo/runs/{run_id}/artifacts/{path}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"].startswith("attachment")
    assert response.headers["x-podium-artifact-sha256"] == hashlib.sha256(response.content).hexdigest()
    return response.content


def test_kept_files_download_with_their_checksum_and_symlinks_are_refused(stack: Stack) -> None:
    run = stack.trigger("demo", "build")
    done = stack.wait_run("demo", run["id"])
    assert done["status"] == "succeeded", stack.outputs()
    items = listed(stack, run["id"])
    assert sorted(items) == ["out/a.txt", "out/b.bin", "out/deep/c.txt", "report-1.txt"]
    assert download(stack, run["id"], "out/a.txt") == b"alpha\n"
    big = download(stack, run["id"], "out/b.bin")
    assert len(big) == BIG == items["out/b.bin"]["size"]
    log = stack.log("demo", run["id"]).decode()
    assert f"{hashlib.sha256(big).hexdigest()}  out/b.bin" in log  # what the job itself saw
    assert "[podium] artifact out/passwd skipped: a symlink is on its path" in log
    assert "other.txt" not in "".join(items)
    assert "[podium] kept 4 artifacts" in log
    # Ranges resume a download; an unlisted path (even one that exists in the workspace) is a 404.
    part = stack.client.get(f"/projects/demo/runs/{run['id']}/artifacts/out/b.bin", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == big[10:20]
    for path in ("other.txt", "out/passwd", "../../etc/passwd", "%2e%2e/x", "out%2f..%2f..%2fx"):
        answer = stack.client.get(f"/projects/demo/runs/{run['id']}/artifacts/{path}")
        assert answer.status_code == 404, (path, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"


def test_a_failed_run_keeps_its_artifacts(stack: Stack) -> None:
    run = stack.trigger("demo", "broken")
    assert stack.wait_run("demo", run["id"])["status"] == "failed"
    assert list(listed(stack, run["id"])) == ["out/log.txt"]
    assert download(stack, run["id"], "out/log.txt") == b"partial\n"


def test_worker_killed_during_the_upload_still_ends_with_whole_artifacts(stack: Stack) -> None:
    """The worker is SIGKILLed once the master holds part of the 5 MB file; restarted on the same
    home, it sends the rest from where the master stopped, and the run ends with every artifact."""
    run = stack.trigger("demo", "build")
    stored = stack.log_dir / "demo" / f"{run['id']}.artifacts" / "files" / "out" / "b.bin"

    def partly_held() -> bool:
        return stored.exists() and 0 < stored.stat().st_size < BIG

    wait_until(partly_held, 60, "part of out/b.bin on the master")
    worker = stack.workers["w1"]
    assert worker.process is not None
    os.kill(worker.process.pid, signal.SIGKILL)
    worker.process.wait()
    cut = stored.stat().st_size
    assert cut < BIG
    start_worker(stack)
    done = stack.wait_run("demo", run["id"], timeout=60)
    assert done["status"] == "succeeded", stack.outputs()
    items = listed(stack, run["id"])
    assert sorted(items) == ["out/a.txt", "out/b.bin", "out/deep/c.txt", "report-1.txt"]
    big = download(stack, run["id"], "out/b.bin")
    assert hashlib.sha256(big).hexdigest() == items["out/b.bin"]["sha256"]
    assert sorted(p.name for p in stored.parent.iterdir()) == ["a.txt", "b.bin", "deep"]


def test_cli_lists_and_downloads_checked_artifacts(stack: Stack, tmp_path: Path) -> None:
    run = stack.trigger("demo", "build")
    assert stack.wait_run("demo", run["id"])["status"] == "succeeded", stack.outputs()
    token = stack.client.headers["Authorization"].removeprefix("Bearer ")
    env = {**os.environ, "PODIUM_API_URL": stack.api_url, "PODIUM_TOKEN": token, "PODIUM_CONFIG_DIR": str(tmp_path)}

    def podium(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["podium", *args], capture_output=True, text=True, timeout=60, env=env)

    listing = podium("runs", "artifacts", "demo", run["id"], "--list")
    assert listing.returncode == 0, listing.stderr
    assert "out/b.bin" in listing.stdout and str(BIG) in listing.stdout
    saved = podium("runs", "artifacts", "demo", run["id"], "-o", str(tmp_path / "all"))
    assert saved.returncode == 0, saved.stderr
    assert (tmp_path / "all" / "out" / "a.txt").read_bytes() == b"alpha\n"
    assert (tmp_path / "all" / "out" / "b.bin").stat().st_size == BIG
    one = podium("runs", "artifacts", "demo", run["id"], "report-1.txt", "-o", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr
    assert [p.name for p in (tmp_path / "one").iterdir()] == ["report-1.txt"]
    unknown = podium("runs", "artifacts", "demo", run["id"], "nope.txt")
    assert unknown.returncode != 0 and "no artifact nope.txt" in unknown.stderr
