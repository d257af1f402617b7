"""`python -m bench.peers [--runs N] [--burst N] [--only celery|buildbot|podium]...`: the peers and Podium in one table.

Each peer's `measure` module measures it (`bench.peers.celery`, `bench.peers.buildbot`); Podium is
`python -m bench --only latency --only throughput` with the same counts, on SQLite.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.__main__ import main as podium_bench
from bench.peers.buildbot.measure import measure as buildbot
from bench.peers.celery.measure import measure as celery
from bench.peers.table import HEADER, row, save

PEERS = {"celery": (celery, "tasks"), "buildbot": (buildbot, "builds")}
"""Each peer's measure (results and its outputs' directory) and what it calls a run."""
NAMES = (*PEERS, "podium")


def podium(runs: int, burst: int) -> dict[str, Any]:
    """Podium's latency and throughput workloads with the same counts; its JSON."""
    directory = Path(tempfile.mkdtemp(prefix="podium-bench-peers-"))
    argv = ["--only", "latency", "--only", "throughput", "--runs", str(runs), "--burst", str(burst)]
    with contextlib.redirect_stdout(sys.stderr):  # its own table would come before the one this prints
        if podium_bench([*argv, "--results", str(directory)]) != 0:
            raise RuntimeError(f"python -m bench {' '.join(argv)} failed (see above)")
    [path] = directory.glob("*.json")
    results: dict[str, Any] = json.loads(path.read_text())
    return results


def main(argv: list[str] | None = None) -> int:
    """Measure each chosen system in turn; print one table."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s bench: %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(prog="python -m bench.peers", description=__doc__)
    parser.add_argument("--runs", type=int, default=200, help="latency: runs one after another")
    parser.add_argument("--burst", type=int, default=1000, help="throughput: runs started at once")
    parser.add_argument("--only", action="append", choices=NAMES, help="measure only these (repeatable)")
    args = parser.parse_args(argv)
    lines, paths = [], []
    for name in args.only or NAMES:
        if name == "podium":
            results = podium(args.runs, args.burst)
            label, unit, workloads = "Podium, SQLite", "runs", results["workloads"]
        else:
            measure, unit = PEERS[name]
            results, directory = measure(args.runs, args.burst)
            logging.info("%s outputs: %s", name, directory)
            label, workloads = results["version"], results
        paths.append(save(results, f"peers-{name}"))
        lines.append(row(label, workloads["latency"], workloads["throughput"], unit))
    sys.stdout.write(HEADER + "".join(lines) + "\nJSON: " + ", ".join(map(str, paths)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
