"""`python -m bench.micro`: CPU costs of the pieces a run goes through, each in isolation.

The throughput burst says how much CPU a run costs in each process; these say where in a piece:
one storage read, the three run writes of a run, one executor launch, the log masker's pass over
100 MB. Each is measured as CPU
time of this process (or of the launcher's children), so that a busy neighbour on the machine
inflates it less than wall time. Like `python -m bench`, nothing here is asserted anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.procs import cpu_seconds
from podium_model import RunSource, RunStatus, RunUpdate, utcnow
from podium_model.config import JobConfig
from podium_storage import migrate, open_storage
from podium_storage.interface import RunWrite
from podium_worker.launch import Launcher
from podium_worker.masking import Masker

REQUEST = {
    "project": "bench",
    "job": "echo",
    "parameters": {},
    "environment": {},
    "worker": {},
    "definition": {"type": "job", "commands": [["echo", "hello"]], "environment": {}},
}


async def storage_costs(reads: int, runs: int) -> dict[str, float]:
    """µs of CPU per `get_job` and ms per run for claim, start and final writes (batches of 10)."""
    with tempfile.TemporaryDirectory(prefix="podium-micro-") as directory:
        url = f"sqlite+aiosqlite:///{directory}/podium.db"
        await migrate(url)
        async with open_storage(url) as storage:
            await storage.put_project("bench")
            job = JobConfig.model_validate({"id": "echo", "definition": {"type": "job", "commands": [["true"]]}})
            await storage.put_job("bench", job)
            for _ in range(100):  # warm: statement caches, pool
                await storage.get_job("bench", "echo")
            start = time.process_time()
            for _ in range(reads):
                await storage.get_job("bench", "echo")
            read_us = 1e6 * (time.process_time() - start) / reads
            source = RunSource(type="api", user="bench")
            created = [await storage.create_run("bench", "echo", {}, source) for _ in range(runs)]
            start = time.process_time()
            for index in range(0, runs, 10):
                batch = [run.id for run in created[index : index + 10]]
                claim = RunUpdate(worker="w", assigned_at=utcnow(), waiting_reason=None)
                await storage.write_runs([RunWrite(i, claim, RunStatus.running, (RunStatus.pending,)) for i in batch])
                await storage.write_runs([RunWrite(i, RunUpdate(started_at=utcnow())) for i in batch])
                final = RunUpdate(results={}, completed_at=utcnow())
                await storage.write_runs([RunWrite(i, final, RunStatus.succeeded, (RunStatus.running,)) for i in batch])
            writes_ms = 1e3 * (time.process_time() - start) / runs
    return {"get_job_us": round(read_us), "run_writes_ms": round(writes_ms, 2)}


def launch_costs(launches: int) -> dict[str, float]:
    """ms of CPU per `echo hello` run started through the executor launcher, executor and echo included."""
    with tempfile.TemporaryDirectory(prefix="podium-micro-") as directory:
        run_dirs = []
        for index in range(launches + 1):
            run_dir = Path(directory) / f"run{index}"
            run_dir.mkdir()
            (run_dir / "request.json").write_text(json.dumps({**REQUEST, "run_id": f"run{index}"}))
            run_dirs.append(run_dir)
        launcher = Launcher()
        launcher.start()
        try:
            _launch(launcher, run_dirs[0])  # warm: the launcher imports the executor first
            assert launcher.process is not None
            before = cpu_seconds(launcher.process.pid, reaped=True)
            for run_dir in run_dirs[1:]:
                _launch(launcher, run_dir)
            per_launch = 1e3 * (cpu_seconds(launcher.process.pid, reaped=True) - before) / launches
        finally:
            launcher.close()
    return {"launch_ms": round(per_launch, 2)}


def _launch(launcher: Launcher, run_dir: Path) -> None:
    """Start one executor and wait until it exits (its notification pipe closes)."""
    read_end, write_end = os.pipe()
    nothing = os.open(os.devnull, os.O_RDONLY)  # the hand-over: no secrets
    try:
        launcher.launch(str(run_dir), write_end, nothing)
    finally:
        os.close(write_end)
        os.close(nothing)
    try:
        while os.read(read_end, 4096):
            pass
    finally:
        os.close(read_end)


def mask_costs(megabytes: int) -> dict[str, float]:
    """MB/s of CPU of the log masker over base64 text (the `log` job's output) in 64 KiB reads,
    with the run token alone and with one secret and the token; the executor's share of the log path."""
    chunk = base64.b64encode(os.urandom(3 << 14))  # 64 KiB, as the executor reads its pipe
    token = "podium-run.01a23744-fb0b-70ed-b022-52aee334c5d5.uNA8pYzSPkYQRuOrCH_HeGb3Gs-SuV7iAOqWfdsxUx8"
    results = {}
    for name, values in (("mask_token_mb_s", [token]), ("mask_secret_mb_s", [token, "correct horse battery staple"])):
        masker = Masker(values)
        count = megabytes * 1_000_000 // len(chunk)
        start = time.process_time()
        for _ in range(count):
            masker.feed(chunk)
        masker.flush()
        results[name] = round(count * len(chunk) / 1e6 / (time.process_time() - start), 1)
    return results


def main(argv: list[str] | None = None) -> int:
    """Measure and print one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m bench.micro", description=__doc__)
    parser.add_argument("--reads", type=int, default=3000, help="get_job calls")
    parser.add_argument("--runs", type=int, default=1000, help="runs written (three writes each)")
    parser.add_argument("--launches", type=int, default=300, help="executors launched one after another")
    parser.add_argument("--mask-mb", type=int, default=100, help="MB of log through the masker")
    args = parser.parse_args(argv)
    results: dict[str, float] = {"cpu_probe_s": _probe()}
    results |= asyncio.run(storage_costs(args.reads, args.runs))
    results |= launch_costs(args.launches)
    results |= mask_costs(args.mask_mb)
    sys.stdout.write(json.dumps(results) + "\n")
    return 0


def _probe() -> float:
    """Seconds of a fixed pure-Python loop: how fast the machine is right now (compare runs with it)."""
    start = time.perf_counter()
    sum(range(30_000_000))
    return round(time.perf_counter() - start, 3)


if __name__ == "__main__":
    sys.exit(main())
