"""Fleet: 1,000 simulated workers idle on one master (its CPU and memory), then 1,000 runs over them."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from bench.client import Api, burst
from bench.procs import CpuMeter, peak_rss_mb, rss_mb
from bench.stack import PROJECT, Stack, wait_until


def start_fleet(stack: Stack, count: int) -> float:
    """Start the simulated workers; wait until the api shows them all active; seconds it took."""
    start = time.monotonic()
    fleet = stack.spawn("fleet", [sys.executable, "-m", "bench.fleet_workers", "--master", stack.worker_url,
                                  "--user", stack.worker_user, "--token", stack.worker_token,
                                  "--count", str(count)])  # fmt: skip

    def connected() -> bool:
        stack.check()
        return "connected" in fleet.tail(5)

    wait_until(connected, 300, f"{count} simulated workers connected")
    stack.wait_workers(count, timeout=300)
    return time.monotonic() - start


async def idle(stack: Stack, seconds: float) -> dict[str, Any]:
    """Master CPU % and RSS while the fleet sits idle for `seconds` (heartbeats only)."""
    master = stack.processes["master"].pid
    fleet = stack.processes["fleet"].pid
    meter, fleet_meter = CpuMeter(master).start(), CpuMeter(fleet).start()
    await asyncio.sleep(seconds)  # the measurement window itself, not a wait for a condition
    stack.check()
    return {
        "seconds": seconds,
        "master_cpu_percent": round(meter.percent(), 2),
        "master_rss_mb": round(rss_mb(master), 1),
        "master_peak_rss_mb": round(peak_rss_mb(master), 1),
        "fleet_process_cpu_percent": round(fleet_meter.percent(), 2),
        "fleet_process_rss_mb": round(rss_mb(fleet), 1),
    }


async def spread(stack: Stack, runs: int) -> dict[str, Any]:
    """`runs` echo runs triggered at once over the simulated workers: runs/s, workers used."""
    api = Api(stack.api_url, stack.token(), connections=100)
    meter = CpuMeter(stack.processes["master"].pid).start()
    try:
        measured = await burst(api, PROJECT, "echo", runs)
    finally:
        await api.close()
    return {
        "runs": runs,
        "statuses": measured.statuses(),
        "workers_used": len({run.get("worker") for run in measured.runs}),
        "runs_per_s": round(runs / (measured.last_completed - measured.start), 1),
        "master_cpu_percent": round(meter.percent(), 1),
        "master_peak_rss_mb": round(peak_rss_mb(stack.processes["master"].pid), 1),
    }
