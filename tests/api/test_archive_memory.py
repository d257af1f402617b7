"""A run's archive streams: three parallel downloads of a 200 MB log keep the api small (issue 17).

The log is written straight into the log store directory, as the master would have written
it: the api only reads that file, so how it got there does not matter to what is tested here.
"""

from __future__ import annotations

import hashlib
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import ApiProcess

LOG_BYTES = 200 * 1024 * 1024
LINE = b"%010d the quick brown fox jumps over the lazy dog, then logs another line\n"


def write_log(path: Path) -> str:
    """Write LOG_BYTES of text lines to `path`; answer their SHA-256."""
    digest = hashlib.sha256()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        written, number = 0, 0
        while written < LOG_BYTES:
            block = b"".join(LINE % (number + n) for n in range(10_000))[: LOG_BYTES - written]
            number += 10_000
            file.write(block)
            digest.update(block)
            written += len(block)
    return digest.hexdigest()


def download(client: httpx.Client, url: str, target: Path) -> None:
    """Stream `url` into `target`."""
    with client.stream("GET", url) as response, target.open("wb") as file:
        assert response.status_code == 200, response.read()
        for chunk in response.iter_bytes(1 << 20):
            file.write(chunk)


def log_digest(archive: Path, run_id: str) -> str:
    """The SHA-256 of log.txt inside the archive."""
    digest = hashlib.sha256()
    with tarfile.open(archive, mode="r:gz") as tar:
        member = tar.extractfile(f"{run_id}/log.txt")
        assert member is not None
        while block := member.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@pytest.mark.slow
def test_three_parallel_archive_downloads_keep_the_api_under_300_mb(api_process: ApiProcess, tmp_path: Path) -> None:
    """Three parallel downloads of a 200 MB log's archive: api peak RSS < 300 MB, each archive intact."""
    with httpx.Client(base_url=api_process.url, timeout=120) as client:
        token = client.post("/me/login", json={"user": "admin", "password": "pw-admin-1"}).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        run = client.post("/projects/demo/jobs/hello/runs", json={}).json()
        expected = write_log(api_process.log_dir / "demo" / f"{run['id']}.log")
        url = f"/projects/demo/runs/{run['id']}/archive"
        targets = [tmp_path / f"archive-{n}.tar.gz" for n in range(3)]
        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(lambda target: download(client, url, target), targets))
    peak = api_process.service.peak_rss()
    assert peak < 300 * 1024 * 1024, f"api peak RSS {peak / 2**20:.0f} MiB"
    for target in targets:
        assert log_digest(target, run["id"]) == expected
