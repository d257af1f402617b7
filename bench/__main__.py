"""`python -m bench [--database D] [--log-store S] [--masters N] [--only NAME] [--quick]`: run the benchmarks.

Each workload starts its own stack (master, api and its workers as real processes on free
loopback ports, a fresh database), measures, and stops it. A workload that fails is reported
as an error in the table and the JSON; the others still run. Exit status 1 when one failed.

`--masters N` (PostgreSQL) starts N masters on the one database: the api talks to the first,
worker wK names master K first (round robin), and the fleet puts `--workers` simulated workers
on each master. The `masters` workload (not in the default set) runs latency and throughput
with 1 and then 2 masters on PostgreSQL, side by side in one table.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import fleet, history, report, workloads
from bench.procs import machine
from bench.stack import Stack, database, postgres_available

logger = logging.getLogger("bench")

NAMES = ("latency", "throughput", "fleet", "history", "log")
EXTRA = ("masters",)  # run only when named


def _with_stack(
    args: argparse.Namespace, kind: str, directory: Path, workers: int, body: Callable[[Stack], Any], masters: int = 1
) -> Any:
    with database(kind, directory) as url:
        stack = Stack(directory, url, args.log_store, masters)
        try:
            stack.start(workers=workers, executor_limit=8)
            return body(stack)
        finally:
            stack.stop()


def _latency(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    return asyncio.run(workloads.latency(stack, args.runs))


def _throughput(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    return asyncio.run(workloads.throughput(stack, args.burst))


def run_latency(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    """Latency on one worker × 8."""
    return dict(_with_stack(args, args.database, directory, 1, lambda s: _latency(s, args), args.masters))


def run_throughput(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    """Throughput on 2 workers × 8."""
    return dict(_with_stack(args, args.database, directory, 2, lambda s: _throughput(s, args), args.masters))


def run_fleet(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    """1,000 simulated workers: idle cost, then runs over them."""

    def body(stack: Stack) -> dict[str, Any]:
        connect_s = fleet.start_fleet(stack, args.workers)
        idle = asyncio.run(fleet.idle(stack, args.idle))
        spread = asyncio.run(fleet.spread(stack, args.burst))
        workers = args.workers * args.masters
        return {"workers": workers, "masters": args.masters, "connect_s": round(connect_s, 1), "idle": idle,
                "spread": spread}  # fmt: skip

    return dict(_with_stack(args, args.database, directory, 0, body, args.masters))


def run_history(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    """Listing pages of a big run table; always on PostgreSQL."""
    if not postgres_available():
        return {"skipped": "PostgreSQL does not answer at PODIUM_BENCH_POSTGRES_URL"}

    def body(stack: Stack) -> dict[str, Any]:
        fill = asyncio.run(history.fill(stack.database_url, args.history))
        return {"database": "postgresql", "fill": fill, **asyncio.run(history.listing(stack, args.history))}

    return dict(_with_stack(args, "postgresql", directory, 0, body))


def run_log(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    """One run writing a big log, one worker."""
    return dict(_with_stack(args, args.database, directory, 1, lambda s: asyncio.run(workloads.log(s, args.log_bytes))))


def run_masters(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    """Latency (one worker, on the first master) and throughput (2 workers, one per master) with 1 and 2
    masters on PostgreSQL, one configuration after the other."""
    if not postgres_available():
        return {"skipped": "PostgreSQL does not answer at PODIUM_BENCH_POSTGRES_URL"}
    outcome: dict[str, Any] = {"database": "postgresql"}
    for masters in (1, 2):
        latency = _with_stack(
            args, "postgresql", directory / f"latency-{masters}", 1, lambda s: _latency(s, args), masters
        )
        throughput = _with_stack(
            args, "postgresql", directory / f"throughput-{masters}", 2, lambda s: _throughput(s, args), masters
        )
        outcome[str(masters)] = {"latency": latency, "throughput": throughput}
    return outcome


RUNNERS: dict[str, Callable[[argparse.Namespace, Path], dict[str, Any]]] = {
    "latency": run_latency,
    "throughput": run_throughput,
    "fleet": run_fleet,
    "history": run_history,
    "log": run_log,
    "masters": run_masters,
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--log-store", choices=("directory", "database"), default="directory",
                        help="where master and api keep run logs (database: PostgreSQL only)")  # fmt: skip
    parser.add_argument("--only", choices=NAMES + EXTRA, action="append", help="run only this workload (repeatable)")
    parser.add_argument("--masters", type=int, default=1, help="masters on the one database (PostgreSQL)")
    parser.add_argument("--quick", action="store_true", help="fleet idle 10 s, history 100,000 runs")
    parser.add_argument("--runs", type=int, default=200, help="latency: runs one after another")
    parser.add_argument("--burst", type=int, default=1000, help="throughput and fleet: runs triggered at once")
    parser.add_argument("--workers", type=int, default=1000, help="fleet: simulated workers")
    parser.add_argument("--idle", type=float, help="fleet: idle seconds (default 60, --quick 10)")
    parser.add_argument("--history", type=int, help="history: runs (default 1,000,000, --quick 100,000)")
    parser.add_argument("--log-bytes", type=int, default=100_000_000, help="log: bytes the run writes")
    parser.add_argument("--results", type=Path, default=report.RESULTS, help="directory of the JSON results")
    args = parser.parse_args(argv)
    if args.masters < 1 or (args.masters > 1 and args.database != "postgresql"):
        parser.error("--masters above 1 needs --database postgresql (several masters on SQLite are not supported)")
    args.idle = args.idle if args.idle is not None else (10.0 if args.quick else 60.0)
    args.history = args.history if args.history is not None else (100_000 if args.quick else 1_000_000)
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the chosen workloads; print the table; write the JSON."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s bench: %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    args = parse(argv)
    results: dict[str, Any] = {
        # The masters workload is on PostgreSQL whatever --database says: name its file so.
        "database": "postgresql" if args.only == ["masters"] else args.database,
        "log_store": args.log_store,
        "quick": args.quick,
        "masters": args.masters,
        "command": " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine(),
        "workloads": {},
    }
    failed = False
    path: Path | None = None
    base = Path(tempfile.mkdtemp(prefix="podium-bench-"))
    for name in args.only or NAMES:
        logger.info("%s: starting", name)
        start = time.monotonic()
        try:
            outcome = RUNNERS[name](args, base / name)
        except Exception as exc:  # one broken workload must not hide the others' numbers
            failed = True
            logger.error("%s failed:\n%s", name, traceback.format_exc())
            outcome = {"error": f"{type(exc).__name__}: {exc}"}
        outcome["elapsed_s"] = round(time.monotonic() - start, 1)
        results["workloads"][name] = outcome
        logger.info("%s: done in %.1fs", name, outcome["elapsed_s"])
        path = report.save(results, args.results, path)  # after each workload: an interrupted run keeps its numbers
    path = report.save(results, args.results, path)
    sys.stdout.write(report.table(results) + f"\n\nJSON: {path}\nservice outputs: {base}\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
