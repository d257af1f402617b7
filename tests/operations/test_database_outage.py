"""PostgreSQL goes away while three runs end: nothing is lost, nothing dies, every api answer is 503.

Two outages: the database refusing connections (`ALLOW_CONNECTIONS false` and its backends
terminated: the server answers, with errors asyncpg reports as plain `DBAPIError`s) and a TCP
proxy cutting every connection (nothing answers). The runs end while the database is away, so
their final statuses reach the master during the outage: the master keeps them and stores them
once the database is back, and the worker keeps the runs until then.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from tests.databases import _execute, fresh_postgres
from tests.master.conftest import start_master
from tests.operations.helpers import configured_stack, start_worker
from tests.operations.outage_proxy import OutageProxy
from tests.stack import Stack
from tests.support import free_port, wait_until

LINES = 20  # 2 s per run: they end during the outage
OUTAGE_MIN = 3.0  # seconds the database stays away at least (until the runs have ended, at most 30 s)
RUNS = 3


def _through(url: str, port: int) -> str:
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    return urlunsplit((parts.scheme, f"{user}@127.0.0.1:{port}" if user else f"127.0.0.1:{port}", *parts[2:]))


@contextlib.contextmanager
def _refusing(url: str) -> Iterator[tuple[Callable[[], None], Callable[[], None], str]]:
    """`down` makes the database refuse connections and ends its sessions; `up` allows them again."""
    name = urlsplit(url).path.lstrip("/")
    admin = urlunsplit(("postgresql", urlsplit(url).netloc, "/postgres", "", ""))

    def down() -> None:
        asyncio.run(_execute(admin, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        asyncio.run(_execute(admin, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))

    def up() -> None:
        asyncio.run(_execute(admin, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))

    try:
        yield down, up, url
    finally:
        up()


@contextlib.contextmanager
def _cut(url: str) -> Iterator[tuple[Callable[[], None], Callable[[], None], str]]:
    """`down` cuts every connection at a TCP proxy and refuses new ones; `up` forwards again."""
    target = urlsplit(url)
    with OutageProxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy:
        yield proxy.down, proxy.up, _through(url, proxy.port)


def _probe(stack: Stack, run_ids: list[str], codes: Counter[str]) -> None:
    """One round of api calls (reads, a trigger, health): count each answer as `status type`."""
    client = stack.client
    answers = [
        client.get("/projects/ops/runs"),
        client.get(f"/projects/ops/runs/{run_ids[0]}"),
        client.post("/projects/ops/jobs/hello/runs", json={"parameters": {}}),
        httpx.get(f"{stack.api_url}/api/v1/health", timeout=10),
    ]
    for answer in answers:
        kind = answer.headers.get("content-type", "").split(";")[0]
        codes[f"{answer.status_code} {kind}"] += 1
        if answer.status_code == 503:
            assert answer.headers.get("retry-after") == "5", answer.headers


def _metric(stack: Stack, name: str) -> float:
    for line in httpx.get(f"{stack.master_url}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize("log_store", ["directory", "database"])
@pytest.mark.parametrize("outage", [_refusing, _cut], ids=["refusing-connections", "proxy-cut"])
def test_runs_ending_during_a_database_outage_all_succeed(tmp_path: Path, outage: object, log_store: str) -> None:
    """Three runs end while PostgreSQL is away: during it every api answer is 503 (problem+json, health
    its own document); afterwards all three succeed with byte-identical logs, and no worker slot leaked.

    With the logs in the database too, the log bytes sent during the outage are refused and sent
    again once it is back (the log-space retry), so the logs are whole all the same."""
    with fresh_postgres() as real_url, outage(real_url) as (down, up, url):  # type: ignore[operator]
        stack = configured_stack(tmp_path, url)
        try:
            master = start_master(stack, "--log-store", log_store)
            stack.start_api("--log-store", log_store)
            health_port = free_port()
            worker = start_worker(stack, "w1", "--executor-limit", str(RUNS), "--health-port", str(health_port))
            wait_until(lambda: any(w["is_active"] for w in stack.client.get("/workers").json()), 60, "worker")
            runs = [stack.trigger("ops", "lines", count=str(LINES))["id"] for _ in range(RUNS)]
            for run_id in runs:
                wait_until(lambda run_id=run_id: b"line-3\n" in stack.log("ops", run_id), 60, "the first lines")

            down()
            codes: Counter[str] = Counter()
            start = time.monotonic()
            try:

                def over() -> bool:
                    """The runs' executors have all ended (on the worker) and the outage lasted its minimum."""
                    _probe(stack, runs, codes)
                    held = httpx.get(f"http://127.0.0.1:{health_port}/health", timeout=10).json()
                    return not held["running"] and time.monotonic() - start >= OUTAGE_MIN

                wait_until(over, 30, "the runs to end during the outage")
            finally:
                up()

            expected = "".join(f"line-{i}\n" for i in range(1, LINES + 1)).encode()
            for run_id in runs:
                final = stack.wait_run("ops", run_id, timeout=60)
                assert final["status"] == "succeeded", stack.outputs()
                assert stack.log("ops", run_id) == expected
            assert set(codes) == {"503 application/problem+json", "503 application/json"}, codes
            assert master.alive() and worker.alive()
            assert worker.output.count("connected to ") == 1, worker.output  # never reconnected
            assert _metric(stack, "podium_master_storage_errors_total") > 0
            wait_until(lambda: _metric(stack, "podium_master_worker_slots_busy") == 0, 30, "every slot free")
            after = stack.trigger("ops", "hello")
            assert stack.wait_run("ops", after["id"], timeout=60)["status"] == "succeeded"
        finally:
            stack.stop()
