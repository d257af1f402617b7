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


def test_micro_bench_measures_each_piece(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m bench.micro` reads, writes, launches and masks for real and prints one JSON object."""
    from bench.micro import main as micro

    assert micro(["--reads", "20", "--runs", "20", "--launches", "10", "--mask-mb", "2"]) == 0
    measured = json.loads(capsys.readouterr().out)
    pieces = {"cpu_probe_s", "get_job_us", "run_writes_ms", "launch_ms", "mask_token_mb_s", "mask_secret_mb_s"}
    assert set(measured) == pieces
    assert all(value > 0 for value in measured.values())


def test_floor_bench_measures_each_piece(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m bench.floor` measures disk, databases, spawn and loopback for real and prints one JSON object."""
    from bench.floor import main as floor

    assert floor(["--count", "5"]) == 0
    measured = json.loads(capsys.readouterr().out)
    for piece in ("fsync_4k_append", "sqlite_commit_normal", "spawn_echo", "websocket_round_trip", "http_round_trip"):
        assert measured[piece]["p50_ms"] > 0, piece
