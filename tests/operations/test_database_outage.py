"""PostgreSQL goes away for 10 s during a run (a proxy cuts it): nothing is lost, nothing dies."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from tests.databases import fresh_postgres
from tests.master.conftest import start_master
from tests.operations.helpers import configured_stack
from tests.operations.outage_proxy import OutageProxy
from tests.support import wait_until

OUTAGE = 10.0  # seconds: the scenario itself
LINES = 60


def _through(url: str, port: int) -> str:
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    return urlunsplit((parts.scheme, f"{user}@127.0.0.1:{port}" if user else f"127.0.0.1:{port}", *parts[2:]))


@pytest.mark.postgres
@pytest.mark.slow
def test_run_survives_a_database_outage(tmp_path: Path) -> None:
    """The run ends succeeded with its full log; the master keeps the worker; the api answers 503, not 500."""
    with fresh_postgres() as real_url:
        target = urlsplit(real_url)
        with OutageProxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy:
            stack = configured_stack(tmp_path, _through(real_url, proxy.port))
            try:
                master = start_master(stack)
                stack.start_api()
                worker = stack.start_worker("w1", 2)
                wait_until(lambda: any(w["is_active"] for w in stack.client.get("/workers").json()), 60, "worker")
                run = stack.trigger("ops", "lines", count=str(LINES))
                wait_until(lambda: b"line-3\n" in stack.log("ops", run["id"]), 60, "the first lines")

                proxy.down()
                codes: Counter[int] = Counter()
                health: Counter[int] = Counter()
                end = time.monotonic() + OUTAGE
                with httpx.Client(timeout=5) as probe:
                    while time.monotonic() < end:  # the outage lasts OUTAGE seconds; probe meanwhile
                        codes[stack.client.get(f"/projects/ops/runs/{run['id']}").status_code] += 1
                        health[probe.get(f"{stack.master_url}/health").status_code] += 1
                proxy.up()

                final = stack.wait_run("ops", run["id"], timeout=60)
                assert final["status"] == "succeeded", stack.outputs()
                expected = "".join(f"line-{i}\n" for i in range(1, LINES + 1)).encode()
                assert stack.log("ops", run["id"]) == expected
                assert master.alive() and worker.alive()
                assert proxy.refused > 0
                assert health[503] > 0, health
                assert worker.output.count("connected to ") == 1, worker.output  # never reconnected
                assert "worker w1 disconnected" not in master.output
                assert 500 not in codes, f"the api answered 500 during the outage: {codes}"
                assert codes[503] > 0, codes
            finally:
                stack.stop()
