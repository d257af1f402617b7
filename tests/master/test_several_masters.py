"""Several masters on one PostgreSQL (or MongoDB) database, as real processes (docs/architecture.md, Several masters).

Two masters share the database and the log directory. The leader (advisory lock) alone fires
the schedules; killed, the other takes over within about a second and no tick fires twice.
A worker held by one master keeps its running run while the other master, up, times it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.databases import fresh_database
from tests.master.conftest import START_TIMEOUT
from tests.mongo_server import mongo_server, mongo_url
from tests.stack import Stack
from tests.support import Service, free_port, python_module, wait_until

pytestmark = pytest.mark.postgres
__all__ = ["mongo_server", "mongo_url"]  # fixtures the MongoDB parameter uses

CONFIG = """
projects:
  - id: demo
    jobs:
      - id: tick
        definition: {type: job, commands: [["true"]]}
      - id: hold
        parameters: [{key: gate}]
        definition: {type: job, commands: [["sh", "-c", "until [ -e {parameters.gate} ]; do sleep 0.1; done"]]}
    schedules:
      - {id: every, job: tick, expression: "* * * * *"}
"""

SPEED = 60.0  # the schedulers' clock: a minute a second, so "* * * * *" ticks every second
FIRED = re.compile(r"schedule demo/every fired for (\S+ \S+): run (\S+)")
SKIPPED = re.compile(r"schedule demo/every: tick (\S+ \S+) skipped")


@contextmanager
def _prepared(url: str, tmp_path: Path) -> Iterator[Stack]:
    config = tmp_path / "podium.yaml"
    config.write_text(CONFIG)
    stack = Stack(tmp_path, url)
    stack.prepare()
    stack.config = config
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(params=["postgresql", pytest.param("mongodb", marks=pytest.mark.mongodb)])
def shared_stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    """A prepared database holding the demo project, PostgreSQL (advisory lock) or MongoDB (lease)."""
    if request.param == "mongodb":
        with _prepared(request.getfixturevalue("mongo_url"), tmp_path) as stack:
            yield stack
        return
    with fresh_database("postgresql", tmp_path) as url, _prepared(url, tmp_path) as stack:
        yield stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A prepared PostgreSQL database holding the demo project (no process started yet)."""
    with fresh_database("postgresql", tmp_path) as url, _prepared(url, tmp_path) as stack:
        yield stack


class Masters:
    """The masters of a test, by id, each on its own port."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.services: dict[str, Service] = {}
        self.ports: dict[str, int] = {}

    def start(
        self, master_id: str, *extra: str, argv: list[str] | None = None, env: dict[str, str] | None = None
    ) -> Service:
        """Start a master sharing the stack's database and log directory; wait for its health."""
        stack = self.stack
        port = self.ports.setdefault(master_id, free_port())
        flags = [
            "--master-id", master_id,
            "--port", str(port),
            "--database-url", stack.database_url,
            "--log-dir", str(stack.log_dir),
            "--control-secret", stack.secret,
            "--sweep-interval", "0.5",
            *extra,
        ]  # fmt: skip
        if stack.config is not None and not self.services:
            flags += ["--config", str(stack.config)]  # the first one applies it
        service = Service(f"master-{master_id}", [*(argv or ["podium-master"]), *flags], env, stack.directory)
        self.services[master_id] = service.start()
        service.wait_http(self.url(master_id, "/health"), timeout=START_TIMEOUT)
        return service

    def url(self, master_id: str, path: str = "") -> str:
        """The http URL of a master."""
        return f"http://127.0.0.1:{self.ports[master_id]}{path}"

    def socket(self, master_id: str) -> str:
        """The worker websocket URL of a master."""
        return f"ws://127.0.0.1:{self.ports[master_id]}/ws/worker"

    def health(self, master_id: str) -> dict[str, Any]:
        """A master's health answer."""
        body: dict[str, Any] = httpx.get(self.url(master_id, "/health"), timeout=5).json()
        return body

    def leader(self) -> str | None:
        """The id of the master that says it leads, if exactly one does."""
        leading = [m for m, s in self.services.items() if s.alive() and self.health(m)["leader"]]
        return leading[0] if len(leading) == 1 else None

    def stop(self) -> None:
        """Stop every master."""
        for service in self.services.values():
            service.stop()


def _ticks(output: str) -> tuple[list[datetime], list[str]]:
    """The ticks a master's output says it fired or skipped, and the runs it started."""
    ticks = [datetime.fromisoformat(m.group(1)) for m in FIRED.finditer(output)]
    ticks += [datetime.fromisoformat(m.group(1)) for m in SKIPPED.finditer(output)]
    return ticks, [m.group(2) for m in FIRED.finditer(output)]


def test_the_leader_fires_each_tick_once_and_a_killed_leader_is_replaced(shared_stack: Stack) -> None:
    """A schedule ticking every second over ~10 s, its leader SIGKILLed half-way: no tick twice.

    The ticks due while no master led collapse into one (the first the new leader fires). On
    MongoDB the new leader waits for the killed one's lease to expire (10 s).
    """
    stack = shared_stack
    masters = Masters(stack)
    fast = python_module("tests.master.fast_clock_master")
    env = {"PODIUM_TEST_CLOCK_EPOCH": str(time.time()), "PODIUM_TEST_CLOCK_SPEED": str(SPEED)}
    try:
        for master_id in ("a", "b"):
            masters.start(master_id, argv=fast, env=env)
        first = wait_until(masters.leader, 10, "one leader")
        other = "b" if first == "a" else "a"
        assert masters.health(other)["master"] == other and not masters.health(other)["leader"]
        assert "podium_master_leader 0.0" in httpx.get(masters.url(other, "/metrics"), timeout=5).text
        stack.start_worker("w1", masters=(masters.socket(other),))
        leader_output = masters.services[first]
        wait_until(lambda: len(_ticks(leader_output.output)[0]) >= 5, 20, "five ticks of the first leader")
        masters.services[first].kill()
        killed_at = time.monotonic()
        wait_until(lambda: masters.health(other)["leader"], 30, f"master {other} leading")
        takeover = time.monotonic() - killed_at
        assert "podium_master_leader 1.0" in httpx.get(masters.url(other, "/metrics"), timeout=5).text
        follower_output = masters.services[other]
        wait_until(lambda: len(_ticks(follower_output.output)[0]) >= 5, 20, "five ticks of the new leader")
    finally:
        stack.stop()
        masters.stop()

    before, runs_before = _ticks(masters.services[first].output)
    after, runs_after = _ticks(masters.services[other].output)
    ticks = sorted(before + after)
    assert len(set(ticks)) == len(ticks), f"a tick fired twice: {ticks}"
    assert max(before) < min(after), "the follower fired while the leader lived"
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False) if b - a != timedelta(minutes=1)]
    # One gap, the ticks due while no master led (the takeover, about a second: a virtual hour at most).
    assert len(gaps) <= 1, (gaps, ticks)
    assert all(gap <= timedelta(minutes=SPEED * (takeover + 2)) for gap in gaps), (gaps, takeover)
    assert len(set(runs_before + runs_after)) == len(runs_before + runs_after)


def test_a_worker_on_another_master_keeps_its_run_and_the_api_names_its_master(stack: Stack, tmp_path: Path) -> None:
    """Worker w1 runs a run through master a, then moves to master b: a, still up, does not end it as lost."""
    masters = Masters(stack)
    try:
        masters.start("a", "--worker-lost-timeout", "3")
        masters.start("b")
        stack.master_port = masters.ports["b"]  # the api talks to master b
        stack.master_url = masters.url("b")
        stack.start_api()
        stack.start_worker("w1", masters=(masters.socket("a"), masters.socket("b")))

        def worker_master() -> str | None:
            workers = stack.client.get("/workers").json()
            return next((w["master"] for w in workers if w["id"] == "w1" and w["is_active"]), None)

        assert wait_until(worker_master, 30, "w1 connected") == "a"
        gate = tmp_path / "gate"
        run = stack.trigger("demo", "hold", gate=str(gate))
        stack.wait_run("demo", run["id"], {"running"})
        # Master a closes w1's connection: w1 moves on to master b at once, its run still going.
        secret = {"X-Podium-Control-Secret": stack.secret}
        httpx.post(masters.url("a", "/control/workers/w1/disconnect"), headers=secret, timeout=5).raise_for_status()
        wait_until(lambda: worker_master() == "b", 30, "w1 held by master b")
        kept = f"run {run['id']} kept: worker w1 is held by master b"
        wait_until(lambda: masters.services["a"].output.count(kept) >= 2, 30, "master a's timer, twice")
        assert stack.run("demo", run["id"])["status"] == "running"
        gate.touch()
        assert stack.wait_run("demo", run["id"])["status"] == "succeeded"
    finally:
        stack.stop()
        masters.stop()
