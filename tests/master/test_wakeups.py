"""Masters wake each other on new runs (PostgreSQL LISTEN/NOTIFY), as real processes.

Master b holds the only worker, the api talks to master a, and the sweep is five minutes:
a run triggered through the api reaches b's worker only because its insert notified b.
"""

from __future__ import annotations

import time

import pytest

from tests.master.test_several_masters import Masters, stack
from tests.stack import Stack

pytestmark = pytest.mark.postgres
__all__ = ["stack"]  # the fixture: a prepared PostgreSQL database holding the demo project

SWEEP = "300"
"""Seconds between the masters' sweeps: far past every deadline here, so no sweep finds a run."""


def test_a_run_triggered_through_one_master_is_run_at_once_by_the_other(stack: Stack) -> None:
    """Ten runs one after another, then a burst of 30: all succeed through master b's worker, none waits for a sweep."""
    masters = Masters(stack)
    try:
        masters.start("a", "--sweep-interval", SWEEP)
        masters.start("b", "--sweep-interval", SWEEP)
        stack.master_port = masters.ports["a"]  # the api tells master a, which has no worker
        stack.master_url = masters.url("a")
        stack.start_api()
        stack.start_worker("w1", 8, masters=(masters.socket("b"),))
        started = time.monotonic()
        for _ in range(10):
            run = stack.trigger("demo", "tick")
            assert stack.wait_run("demo", run["id"], timeout=20)["status"] == "succeeded"
        burst = [stack.trigger("demo", "tick")["id"] for _ in range(30)]
        for run_id in burst:
            done = stack.wait_run("demo", run_id, timeout=30)
            assert done["status"] == "succeeded" and done["worker"] == "w1"
        assert time.monotonic() - started < float(SWEEP)
        assert "listening for new runs on channel podium_runs" in masters.services["b"].output
    finally:
        stack.stop()
        masters.stop()
