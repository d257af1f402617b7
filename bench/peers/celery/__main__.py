"""`python -m bench.peers.celery [--runs N] [--burst N]`: Celery on Podium's latency and throughput workloads."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.peers.celery.setup import CeleryStack
from bench.peers.table import HEADER, row, save
from bench.procs import machine
from bench.stats import summary_ms

logger = logging.getLogger("bench.peers.celery")


def measure(runs: int, burst: int) -> tuple[dict[str, Any], Path]:
    """Install (once), start, measure, stop; the results and the outputs' directory."""
    directory = Path(tempfile.mkdtemp(prefix="podium-bench-celery-"))
    stack = CeleryStack(directory)
    results: dict[str, Any] = {"peer": "celery", "version": stack.version(), "machine": machine()}
    try:
        stack.start()
        logger.info("Celery worker started; latency with %d tasks", runs)
        results["latency"] = {"runs": runs, "trigger_to_seen": summary_ms(stack.drive("latency", runs)["durations"])}
        logger.info("throughput with %d tasks", burst)
        sent = stack.drive("throughput", burst)
        results["throughput"] = {"runs": burst, "succeeded": sent["ok"], "send_all_s": round(sent["sent_s"], 2),
                                 "runs_per_s": round(burst / sent["elapsed_s"], 2)}  # fmt: skip
    finally:
        stack.stop()
    return results, directory


def main(argv: list[str] | None = None) -> int:
    """Measure, print a table and write the JSON."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s bench: %(message)s", stream=sys.stderr)
    parser = argparse.ArgumentParser(prog="python -m bench.peers.celery", description=__doc__)
    parser.add_argument("--runs", type=int, default=200, help="latency: tasks one after another")
    parser.add_argument("--burst", type=int, default=1000, help="throughput: tasks sent at once")
    args = parser.parse_args(argv)
    results, directory = measure(args.runs, args.burst)
    path = save(results, "celery")
    line = row(results["version"], results["latency"], results["throughput"], "tasks")
    sys.stdout.write(f"{HEADER}{line}\nJSON: {path}\noutputs: {directory}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
