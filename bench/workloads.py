"""Latency, throughput and log: real master, api and workers, driven over HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from typing import Any

import yaml

from bench.client import Api, Events, burst, timestamp
from bench.procs import CpuMeter, children, peak_rss_mb
from bench.stack import PROJECT, Stack, configuration
from bench.stats import breakdown, summary_ms
from podium_storage import open_log_store, open_storage
from podium_storage.logs import LogStore

logger = logging.getLogger(__name__)

RUN_TIMEOUT = 60.0


async def latency(stack: Stack, runs: int) -> dict[str, Any]:
    """`runs` echo runs one after another: trigger → `succeeded` seen on the events stream."""
    api = Api(stack.api_url, stack.token(), connections=4)
    try:
        async with Events(api) as events:
            warm = await api.trigger(PROJECT, "echo")  # warm-up: first imports, first connections
            await events.wait_final(warm["id"], RUN_TIMEOUT)
            seen: list[float] = []
            triggered: dict[str, float] = {}
            finals: list[dict[str, Any]] = []
            for _ in range(runs):
                start = time.time()
                run = await api.trigger(PROJECT, "echo")
                triggered[run["id"]] = start
                final = await events.wait_final(run["id"], RUN_TIMEOUT)
                seen.append(events.seen[run["id"]][final["status"]] - start)
                finals.append(final)
    finally:
        await api.close()
    statuses = {run["status"] for run in finals}
    return {
        "runs": runs,
        "statuses": sorted(statuses),
        "trigger_to_seen": summary_ms(seen),
        "phases": breakdown(finals, triggered),
    }


async def throughput(stack: Stack, runs: int) -> dict[str, Any]:
    """`runs` echo runs triggered at once: runs/s until the last completes; peak RSS per process."""
    api = Api(stack.api_url, stack.token(), connections=100)
    meters = {name: CpuMeter(pid) for name, pid in stack.pids().items()}
    for name, pid in stack.pids().items():
        for child in children(pid) if name.startswith("worker-") else []:  # the executor launcher
            meters[f"executors-{name.removeprefix('worker-')}"] = CpuMeter(child, reaped=True)
    for meter in meters.values():
        meter.start()
    client = sum(os.times()[:2])
    try:
        measured = await burst(api, PROJECT, "echo", runs)
    finally:
        await api.close()
    # CPU spent per run by each process over the burst: the executors (and their `echo`) are
    # counted through the launcher that reaps them, the bench client is this process.
    cpu = {name: meter.seconds() for name, meter in meters.items()} | {"bench client": sum(os.times()[:2]) - client}
    return {
        "runs": runs,
        "statuses": measured.statuses(),
        "trigger_all_s": round(measured.triggered_in, 2),
        "trigger_retries": api.retries,
        "runs_per_s": round(runs / (measured.last_completed - measured.start), 1),
        "runs_per_s_seen": round(runs / (measured.seen_end - measured.start), 1),
        "last_completed_s": round(measured.last_completed - measured.start, 2),
        "cpu_percent": {name: round(meter.percent(), 1) for name, meter in meters.items()},
        "cpu_ms_per_run": {name: round(1000 * seconds / runs, 2) for name, seconds in cpu.items()},
        "cpu_ms_per_run_total": round(1000 * sum(cpu.values()) / runs, 1),
        "peak_rss_mb": {name: round(peak_rss_mb(pid), 1) for name, pid in stack.pids().items()},
        "per_worker": _per_worker(measured.runs),
    }


def _per_worker(runs: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for run in runs:
        counts[str(run.get("worker"))] = counts.get(str(run.get("worker")), 0) + 1
    return counts


LOG_SECRET = "correct horse battery staple"
"""The project secret the `log` job names, so that its log goes through the executor's masker."""


async def _define_log_secret(api: Api) -> None:
    """Set the secret BENCH_SECRET and give it to the `log` job (the masker then scans every byte)."""
    await api.put(f"/projects/{PROJECT}/secrets/BENCH_SECRET", {"value": LOG_SECRET})
    document = yaml.safe_load(configuration())
    for job in document["projects"][0]["jobs"]:
        if job["id"] == "log":
            job["definition"]["secrets"] = ["BENCH_SECRET"]
    await api.put("/admin/configuration", document)


async def log(stack: Stack, size: int) -> dict[str, Any]:
    """One run writing `size` bytes of log, with one secret defined: MB/s until the master's log
    store holds them all."""
    api = Api(stack.api_url, stack.token(), connections=4)
    async with open_storage(stack.database_url) as storage:
        store = open_log_store(stack.log_store, stack.log_dir, storage)
        try:
            await _define_log_secret(api)
            async with Events(api) as events:
                start = time.time()
                run = await api.trigger(PROJECT, "log", size=str(size))
                first_byte = await _watch_size(store, run["id"], 1, RUN_TIMEOUT, stack)
                all_bytes = await _watch_size(store, run["id"], size, 600, stack)
                final = await events.wait_final(run["id"], 600)
                seen = time.time()
        finally:
            await api.close()
        digest = await _sha256(store, run["id"])
        held = await store.size(PROJECT, run["id"])
    expected = final.get("results", {}).get("sha256")
    started, completed = timestamp(final.get("started_at")), timestamp(final.get("completed_at"))
    mb = size / 1e6
    return {
        "bytes": size,
        "status": final["status"],
        "log_store": store.kind,
        "held_bytes": held,
        "checksum_equal": digest == expected,
        "mb_per_s_held": round(mb / (all_bytes - first_byte), 1) if all_bytes > first_byte else None,
        "mb_per_s_run": round(mb / (completed - started), 1) if started and completed else None,
        "trigger_to_all_bytes_s": round(all_bytes - start, 2),
        "trigger_to_seen_s": round(seen - start, 2),
        "peak_rss_mb": {name: round(peak_rss_mb(pid), 1) for name, pid in stack.pids().items()},
    }


async def _watch_size(store: LogStore, run_id: str, size: int, timeout: float, stack: Stack) -> float:
    """time.time() when the log store first holds `size` bytes of the run's log (asked every 5 ms:
    a stat, or one indexed query of the database store)."""
    deadline = time.monotonic() + timeout
    while True:
        if await store.size(PROJECT, run_id) >= size:
            return time.time()
        if time.monotonic() > deadline:
            stack.check()
            raise TimeoutError(f"the log store never held {size} bytes of run {run_id}")
        await asyncio.sleep(0.005)


async def _sha256(store: LogStore, run_id: str) -> str:
    digest = hashlib.sha256()
    offset = 0
    while chunk := await store.read(PROJECT, run_id, offset, 1 << 20):
        digest.update(chunk)
        offset += len(chunk)
    return digest.hexdigest()
