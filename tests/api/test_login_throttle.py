"""Login throttling against the real `podium-api` process (issue 17).

The delays are made short through the api's settings so that the test waits on a deadline,
not on a fixed sleep; the behaviour is the one of the defaults, scaled down.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from podium_model.problems import PROBLEM_MEDIA_TYPE
from tests.databases import sqlite_url
from tests.stack import admin
from tests.support import Service, free_port, wait_until

PASSWORD = "the-right-password"
MAX_DELAY = 2.0


@pytest.fixture
def api_url(tmp_path: Path) -> Iterator[tuple[str, Service]]:
    """`podium-api` on SQLite with a user `admin`, throttling after 10 failures, delays up to 2 s."""
    database_url = sqlite_url(tmp_path)
    admin(database_url, "migrate")
    admin(database_url, "create-user", "admin", "--role", "administrator", "--password", PASSWORD)
    port = free_port()
    argv = ["podium-api", "--port", str(port), "--database-url", database_url, "--log-dir", str(tmp_path / "logs")]
    env = {"PODIUM_API_LOGIN_DELAY": "0.25", "PODIUM_API_LOGIN_MAX_DELAY": str(MAX_DELAY)}
    service = Service("api", argv, env=env, output_dir=tmp_path).start()
    url = f"http://127.0.0.1:{port}/api/v1"
    try:
        service.wait_http(f"{url}/health", timeout=90)
        yield url, service
    finally:
        assert service.stop() == 0, service.output


def login(url: str, user: str, password: str) -> httpx.Response:
    """One login attempt."""
    return httpx.post(f"{url}/me/login", json={"user": user, "password": password}, timeout=30)


def test_repeated_failures_get_429_then_the_right_password_works(api_url: tuple[str, Service]) -> None:
    """100 wrong passwords end in 429 with Retry-After, mostly unhashed; the right one works after the delay."""
    url, _ = api_url
    answers = [login(url, "admin", "wrong") for _ in range(100)]
    statuses = [answer.status_code for answer in answers]
    assert set(statuses) <= {401, 429}
    assert statuses[:10] == [401] * 10  # the free failures
    assert statuses.count(429) > 50, statuses  # the rest mostly refused without hashing
    last = answers[-1] if answers[-1].status_code == 429 else next(a for a in answers if a.status_code == 429)
    assert last.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert 1 <= int(last.headers["Retry-After"]) <= MAX_DELAY
    # Refused while blocked (unchecked, so it does not count), accepted once the delay passed.
    accepted = wait_until(
        lambda: (answer := login(url, "admin", PASSWORD)).status_code == 200 and answer,
        timeout=MAX_DELAY * 4 + 10,
        what="the right password accepted",
    )
    assert accepted.json()["user"]["id"] == "admin"


def test_parallel_attempts_keep_the_api_memory_bounded(api_url: tuple[str, Service]) -> None:
    """20 parallel wrong logins hash two at a time: the api's peak memory stays bounded."""
    url, service = api_url
    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(lambda n: login(url, f"user-{n}", "wrong").status_code, range(20)))
    assert statuses == [401] * 20
    # Two 64 MiB hashes at once plus the process itself; unbounded, 20 hashes take 1.3 GB.
    assert service.peak_rss() < 300 * 1024 * 1024, service.peak_rss()
