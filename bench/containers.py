"""`python -m bench.containers [--runs N] [--image IMAGE]`: one run's latency on the host and in a container.

One stack (SQLite), one worker with `--containers docker`, two jobs of one command that does
nothing: `true` on the worker host, and `/bin/busybox true` in a container of IMAGE (default:
the busybox stand-in of tests/containers/engine.sh, which it builds when missing; nothing is
pulled). N runs of each, one after another, alternating, each timed from the trigger to its final
status on the events stream, with the run's own phases (assigned→started covers the container's
creation, started→completed its command). Prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.client import Api, Events
from bench.stack import Stack, database
from bench.stats import breakdown, summary_ms

PROJECT = "containers"
RUN_TIMEOUT = 120.0


def stand_in_image() -> str:
    """The busybox stand-in image, built by engine.sh when the engine lacks it."""
    script = Path(__file__).resolve().parents[1] / "tests" / "containers" / "engine.sh"
    result = subprocess.run([str(script)], capture_output=True, text=True, timeout=1200, check=True)
    return dict(line.split("=", 1) for line in result.stdout.split() if "=" in line)["PODIUM_BUSYBOX_IMAGE"]


async def measure(stack: Stack, image: str, runs: int) -> dict[str, Any]:
    """`runs` runs of each job, alternating; per job the trigger→final summary and the phases."""
    api = Api(stack.api_url, stack.token(), connections=4)
    jobs = {
        "host": {"type": "job", "commands": [["true"]]},
        "container": {"type": "job", "image": image, "commands": [["/bin/busybox", "true"]]},
    }
    try:
        await api.put(
            "/admin/configuration",
            {"projects": [{"id": PROJECT, "jobs": [{"id": job, "definition": d} for job, d in jobs.items()]}]},
        )
        seen: dict[str, list[float]] = {job: [] for job in jobs}
        finals: dict[str, list[dict[str, Any]]] = {job: [] for job in jobs}
        triggered: dict[str, float] = {}
        async with Events(api) as events:
            for job in jobs:  # warm-up: first imports, first connections, the image's first container
                await events.wait_final((await api.trigger(PROJECT, job))["id"], RUN_TIMEOUT)
            for _ in range(runs):
                for job in jobs:
                    start = time.time()
                    run = await api.trigger(PROJECT, job)
                    triggered[run["id"]] = start
                    final = await events.wait_final(run["id"], RUN_TIMEOUT)
                    if final["status"] != "succeeded":
                        raise RuntimeError(f"a {job} run ended {final['status']}: {final.get('reason')}")
                    seen[job].append(events.seen[run["id"]][final["status"]] - start)
                    finals[job].append(final)
    finally:
        await api.close()
    return {
        job: {"trigger_to_seen": summary_ms(seen[job]), "phases": breakdown(finals[job], triggered)} for job in jobs
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m bench.containers", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="runs of each job (default 30)")
    parser.add_argument("--image", help="the image of the container job (default: the busybox stand-in)")
    args = parser.parse_args(argv)
    image = args.image or stand_in_image()
    with tempfile.TemporaryDirectory(prefix="podium-bench-containers-") as tmp:
        directory = Path(tmp)
        with database("sqlite", directory) as url:
            stack = Stack(directory, url)
            try:
                stack.start()
                stack.start_worker("boxes", 2, "--containers", "docker")
                stack.wait_workers(1)
                result = asyncio.run(measure(stack, image, args.runs))
            finally:
                stack.stop()
    json.dump({"image": image, "runs": args.runs, **result}, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
