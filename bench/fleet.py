"""Fleet: 1,000 simulated workers idle on each master (its CPU and memory), then runs over them.

With several masters (`--masters N`), each gets its own process of simulated workers
(`fleet`, `fleet-2`, ...), `--workers` of them connected to that master alone.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from bench.client import Api, burst
from bench.procs import CpuMeter, peak_rss_mb, rss_mb
from bench.stack import PROJECT, Stack, wait_until


def _fleet_name(number: int) -> str:
    return "fleet" if number == 0 else f"fleet-{number + 1}"


def start_fleet(stack: Stack, count: int) -> float:
    """Start `count` simulated workers per master; wait until the api shows them all active; seconds it took."""
    start = time.monotonic()
    fleets = []
    for number, url in enumerate(stack.worker_urls):
        prefix = "sim-" if number == 0 else f"sim{number + 1}-"
        fleets.append(stack.spawn(_fleet_name(number), [sys.executable, "-m", "bench.fleet_workers", "--master", url,
                                  "--user", stack.worker_user, "--token", stack.worker_token,
                                  "--count", str(count), "--prefix", prefix]))  # fmt: skip

    def connected() -> bool:
        stack.check()
        return all("connected" in fleet.tail(5) for fleet in fleets)

    total = count * len(fleets)
    wait_until(connected, 300, f"{total} simulated workers connected")
    stack.wait_workers(total, timeout=300)
    return time.monotonic() - start


async def idle(stack: Stack, seconds: float) -> dict[str, Any]:
    """Each master's CPU % and RSS while the fleet sits idle for `seconds` (heartbeats only).

    The first master's figures keep their names (`master_cpu_percent`...); with several, every
    master's are under `masters`.
    """
    masters = stack.master_pids()
    fleets = {name: p.pid for name, p in stack.processes.items() if name.startswith("fleet")}
    meters = {name: CpuMeter(pid).start() for name, pid in masters.items()}
    fleet_meters = {name: CpuMeter(pid).start() for name, pid in fleets.items()}
    await asyncio.sleep(seconds)  # the measurement window itself, not a wait for a condition
    stack.check()
    each = {
        name: {
            "cpu_percent": round(meters[name].percent(), 2),
            "rss_mb": round(rss_mb(pid), 1),
            "peak_rss_mb": round(peak_rss_mb(pid), 1),
        }
        for name, pid in masters.items()
    }
    first = each["master"]
    return {
        "seconds": seconds,
        "master_cpu_percent": first["cpu_percent"],
        "master_rss_mb": first["rss_mb"],
        "master_peak_rss_mb": first["peak_rss_mb"],
        "fleet_process_cpu_percent": round(sum(m.percent() for m in fleet_meters.values()), 2),
        "fleet_process_rss_mb": round(sum(rss_mb(pid) for pid in fleets.values()), 1),
        **({"masters": each} if len(each) > 1 else {}),
    }


async def spread(stack: Stack, runs: int) -> dict[str, Any]:
    """`runs` echo runs triggered at once over the simulated workers: runs/s, workers used."""
    api = Api(stack.api_url, stack.token(), connections=100)
    masters = stack.master_pids()
    meters = {name: CpuMeter(pid).start() for name, pid in masters.items()}
    try:
        measured = await burst(api, PROJECT, "echo", runs)
    finally:
        await api.close()
    used = {str(run.get("worker")) for run in measured.runs}
    outcome: dict[str, Any] = {
        "runs": runs,
        "statuses": measured.statuses(),
        "workers_used": len(used),
        "runs_per_s": round(runs / (measured.last_completed - measured.start), 1),
        "master_cpu_percent": round(meters["master"].percent(), 1),
        "master_peak_rss_mb": round(peak_rss_mb(masters["master"]), 1),
    }
    if len(masters) > 1:
        outcome["masters_cpu_percent"] = {name: round(meter.percent(), 1) for name, meter in meters.items()}
        outcome["workers_used_by_prefix"] = {
            prefix: sum(1 for worker in used if worker.startswith(prefix))
            for prefix in ["sim-", *(f"sim{n + 1}-" for n in range(1, len(masters)))]
        }
    return outcome
