"""`python -m bench.masters [--runs N] [--burst N]`: one master against two, on PostgreSQL.

Latency with one master, then with two, and the claims lost under contention.

One master: the api, the master and worker w1 on it. Two masters: a second master `b` joins
the database, w1 stops and w2 connects to `b` only, so each run is created through the api's
master and dispatched by the other, woken by the insert's NOTIFY (docs/architecture.md,
Several masters). Runs go one after another; each is read back until final, and the figures
are the stored times (trigger → created, trigger → completed), so the polling does not count.

Contention: w1 connects to the first master again, and a burst of runs is triggered at once:
both masters place the same oldest pending runs and claim them by the compare-and-set
`pending → running`; `podium_master_claims_lost_total` of each says how many claims lost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.client import Api, burst
from bench.stack import PROJECT, Stack, command, database, free_port, postgres_available
from bench.stats import breakdown

FINAL = {"succeeded", "failed", "aborted", "cancelled", "exception"}


async def _latency(stack: Stack, runs: int) -> dict[str, Any]:
    """`runs` echo runs one after another, each read back until final: the phases of their stored times."""
    api = Api(stack.api_url, stack.token(), connections=4)
    triggered: dict[str, float] = {}
    finals: list[dict[str, Any]] = []
    try:
        for number in range(runs + 1):  # the first warms up (imports, connections)
            start = time.time()
            run = await api.trigger(PROJECT, "echo")
            deadline = time.monotonic() + 60
            while run["status"] not in FINAL:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"run {run['id']} not final within 60 s")
                await asyncio.sleep(0.01)  # reading back; the figures are the stored times
                run = await api.run(PROJECT, run["id"])
            if number:
                triggered[run["id"]] = start
                finals.append(run)
    finally:
        await api.close()
    return {"runs": runs, "statuses": sorted({run["status"] for run in finals}), "phases": breakdown(finals, triggered)}


def _claims_lost(url: str) -> float:
    """`podium_master_claims_lost_total` of the master at `url`."""
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith("podium_master_claims_lost_total "):
            return float(line.split()[1])
    return 0.0


async def _contended(stack: Stack, count: int, masters: dict[str, str]) -> dict[str, Any]:
    """`count` runs at once over two masters with a worker each: runs/s, queueing, lost claims."""
    before = {name: _claims_lost(url) for name, url in masters.items()}
    api = Api(stack.api_url, stack.token(), connections=100)
    try:
        measured = await burst(api, PROJECT, "echo", count)
    finally:
        await api.close()
    workers: dict[str, int] = {}
    for run in measured.runs:
        workers[run.get("worker") or "-"] = workers.get(run.get("worker") or "-", 0) + 1
    return {
        "runs": count,
        "statuses": sorted({run["status"] for run in measured.runs}),
        "runs_per_s": round(count / max(1e-9, measured.last_completed - measured.start), 1),
        "per_worker": workers,
        "claims_lost": {name: _claims_lost(url) - before[name] for name, url in masters.items()},
        "phases": breakdown(measured.runs, {}),
    }


def main() -> None:
    """Run both scenarios on one fresh PostgreSQL database and print (and keep) the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="runs one after another, per scenario")
    parser.add_argument("--burst", type=int, default=500, help="runs triggered at once over two masters")
    parser.add_argument("--results", type=Path, help="write the JSON here too")
    args = parser.parse_args()
    if not postgres_available():
        raise SystemExit("PostgreSQL does not answer at PODIUM_BENCH_POSTGRES_URL")
    with tempfile.TemporaryDirectory(prefix="podium-bench-masters-") as tmp, database("postgresql", Path(tmp)) as url:
        stack = Stack(Path(tmp), url).start()
        try:
            stack.start_worker("w1", 8)
            stack.wait_workers(1)
            one = asyncio.run(_latency(stack, args.runs))
            port = free_port()
            stack.spawn("master-b", [*command("podium-master"), "--host", "127.0.0.1", "--port", str(port),
                                     "--master-id", "b", "--database-url", url, "--log-dir", str(stack.log_dir),
                                     "--control-secret", stack.secret,
                                     "--secrets-key-file", str(stack.secrets_key_file)])  # fmt: skip
            stack.wait_http("master-b", f"http://127.0.0.1:{port}/health")
            stack.processes.pop("worker-w1").stop()
            stack.worker_url = f"ws://127.0.0.1:{port}/ws/worker"
            stack.start_worker("w2", 8)
            stack.wait_workers(1)
            two = asyncio.run(_latency(stack, args.runs))
            stack.worker_url = f"ws://127.0.0.1:{stack.master_port}/ws/worker"
            stack.start_worker("w1", 8)
            stack.wait_workers(2)
            masters = {"a": stack.master_url, "b": f"http://127.0.0.1:{port}"}
            contended = asyncio.run(_contended(stack, args.burst, masters))
        finally:
            stack.stop()
    result = {"database": "postgresql", "one_master": one, "two_masters": two, "contended_burst": contended}
    text = json.dumps(result, indent=1, ensure_ascii=False)
    sys.stdout.write(text + "\n")
    if args.results is not None:
        args.results.write_text(text + "\n")


if __name__ == "__main__":
    main()
