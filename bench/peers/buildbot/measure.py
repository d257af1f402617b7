"""Buildbot on Podium's latency and throughput workloads (`python -m bench.peers --only buildbot`)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from bench.peers.buildbot.setup import BuildbotStack, version
from bench.procs import CpuMeter, machine, peak_rss_mb
from bench.stats import summary_ms

logger = logging.getLogger("bench.peers.buildbot")


class Completions:
    """Buildset ends pushed over Buildbot's websocket (`buildsets/*/complete`)."""

    def __init__(self, url: str) -> None:
        self.url = url.replace("http://", "ws://") + "/ws"
        self.done: dict[int, float] = {}
        self.results: dict[int, Any] = {}
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Completions:
        ws = await connect(self.url, max_size=None)
        await ws.send(json.dumps({"cmd": "startConsuming", "path": "buildsets/*/complete", "_id": 1}))
        reply = json.loads(await ws.recv())
        if reply.get("code") != 200:
            raise RuntimeError(f"Buildbot refused the subscription: {reply}")
        self._task = asyncio.create_task(self._follow(ws))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow(self, ws: ClientConnection) -> None:
        async with ws:
            async for frame in ws:
                message = json.loads(frame)
                buildset = message.get("m") or {}
                if "bsid" in buildset:
                    now = time.time()
                    async with self._changed:
                        self.done.setdefault(int(buildset["bsid"]), now)
                        self.results[int(buildset["bsid"])] = buildset.get("results")
                        self._changed.notify_all()

    async def wait(self, ids: set[int], timeout: float) -> None:
        """Wait until every buildset of `ids` completed."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: ids <= self.done.keys()), timeout)


async def force(http: httpx.AsyncClient, builder: int) -> int:
    """Start a build through the ForceScheduler (JSON-RPC over HTTP); the buildset id."""
    body = {"jsonrpc": "2.0", "method": "force", "id": 1, "params": {"builderid": str(builder)}}
    response = await http.post("/api/v2/forceschedulers/force", json=body)
    if response.status_code != 200:
        raise RuntimeError(f"force answered {response.status_code}: {response.text[:300]}")
    return int(response.json()["result"][0])


async def latency(stack: BuildbotStack, runs: int) -> dict[str, Any]:
    """`runs` builds one after another: force → buildset complete pushed."""
    builders = stack.builder_ids()
    async with httpx.AsyncClient(base_url=stack.url, timeout=60) as http, Completions(stack.url) as done:
        await done.wait({await force(http, builders[0])}, 120)  # warm-up
        durations = []
        for _ in range(runs):
            start = time.time()
            bsid = await force(http, builders[0])
            await done.wait({bsid}, 120)
            durations.append(done.done[bsid] - start)
    return {"runs": runs, "trigger_to_seen": summary_ms(durations)}


async def throughput(stack: BuildbotStack, runs: int) -> dict[str, Any]:
    """`runs` builds forced at once over the 8 builders: builds/s until the last completes."""
    builders = itertools.cycle(stack.builder_ids())
    meters = {name: CpuMeter(pid).start() for name, pid in stack.pids().items()}
    limits = httpx.Limits(max_connections=100)
    async with (
        httpx.AsyncClient(base_url=stack.url, timeout=600, limits=limits) as http,
        Completions(stack.url) as done,
    ):
        start = time.time()
        ids = set(await asyncio.gather(*(force(http, next(builders)) for _ in range(runs))))
        triggered = time.time() - start
        await done.wait(ids, 3600)
        last = max(done.done[bsid] for bsid in ids)
    results: dict[str, int] = {}
    for bsid in ids:
        results[str(done.results.get(bsid))] = results.get(str(done.results.get(bsid)), 0) + 1
    return {
        "runs": runs,
        "results": results,
        "trigger_all_s": round(triggered, 2),
        "runs_per_s": round(runs / (last - start), 2),
        "cpu_percent": {name: round(meter.percent(), 1) for name, meter in meters.items()},
        "peak_rss_mb": {name: round(peak_rss_mb(pid), 1) for name, pid in stack.pids().items()},
    }


def measure(runs: int, burst: int) -> tuple[dict[str, Any], Path]:
    """Install (once), start, measure, stop; the results and the outputs' directory."""
    directory = Path(tempfile.mkdtemp(prefix="podium-bench-buildbot-"))
    stack = BuildbotStack(directory)
    results: dict[str, Any] = {"peer": "buildbot", "version": version(stack.bin), "machine": machine()}
    try:
        stack.start()
        logger.info("Buildbot is up; latency with %d builds", runs)
        results["latency"] = asyncio.run(latency(stack, runs))
        logger.info("throughput with %d builds", burst)
        results["throughput"] = asyncio.run(throughput(stack, burst))
    finally:
        stack.stop()
    return results, directory
