"""The benchmark harness runs end to end (no timing is asserted: the numbers are for reading)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.__main__ import main


@pytest.mark.slow
def test_latency_bench_runs_five_runs(tmp_path: Path) -> None:
    """`python -m bench --only latency --runs 5` starts the stack, runs 5 echo runs and writes its JSON."""
    assert main(["--only", "latency", "--runs", "5", "--results", str(tmp_path)]) == 0
    [path] = tmp_path.glob("*-sqlite.json")
    latency = json.loads(path.read_text())["workloads"]["latency"]
    assert latency["statuses"] == ["succeeded"]
    assert latency["trigger_to_seen"]["count"] == 5
    assert latency["phases"]["execute"]["count"] == 5
