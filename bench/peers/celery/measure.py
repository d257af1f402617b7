"""Celery on Podium's latency and throughput workloads (`python -m bench.peers --only celery`)."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from bench.peers.celery.setup import CeleryStack
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
