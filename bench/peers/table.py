"""The peers' JSON files and the one table that puts them beside Podium."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from bench.report import RESULTS

HEADER = "| peer | latency p50 / p95 / p99 | throughput |\n| --- | --- | --- |\n"


def save(results: dict[str, Any], name: str) -> Path:
    """Write `bench/results/<UTC timestamp>-<name>.json`; its path."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{name}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path


def row(label: str, latency: dict[str, Any], throughput: dict[str, Any], unit: str) -> str:
    """One line of the table from a `latency` (with `trigger_to_seen`) and a `throughput` (with `runs_per_s`)."""
    seen = latency["trigger_to_seen"]
    return (
        f"| {label} ({latency['runs']} one after another; {throughput['runs']} at once) | "
        f"{seen['p50_ms']} / {seen['p95_ms']} / {seen['p99_ms']} ms | {throughput['runs_per_s']} {unit}/s |\n"
    )
