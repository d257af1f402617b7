"""Many simulated workers in one process: `python -m bench.fleet_workers --count N ...`.

Each holds its own websocket to the master with the shared worker credentials and a distinct
worker id, and speaks `podium_model.messages`: answers `describe` and `list`, sends a heartbeat
every `--heartbeat` seconds, and answers `execute` by reporting the run running, then
`succeeded` with an empty log (log_size 0). Prints `connected N` once every connection is up,
then a line per second with the executed count. Ends on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import random
import signal
import sys
from datetime import UTC, datetime

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from podium_model.messages import (
    Heartbeat,
    Response,
    RunList,
    StatusUpdate,
    WorkerRunState,
)
from podium_model.runs import RunStatus
from podium_model.workers import WorkerDescription


class Fleet:
    """Counters shared by the simulated workers."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.connected = 0
        self.executed = 0
        self.errors = 0
        self.dropped = 0
        self.all_connected = asyncio.Event()


async def worker(
    fleet: Fleet, url: str, worker_id: str, auth: str, heartbeat: float, opening: asyncio.Semaphore
) -> None:
    """One simulated worker: connect (retrying), then serve until cancelled."""
    headers = {"Authorization": auth, "X-Podium-Worker-Id": worker_id}
    description = WorkerDescription(version="bench", display_name=worker_id, executor_limit=1).model_dump(mode="json")
    for attempt in range(50):
        try:
            async with opening:
                ws = await connect(
                    url, additional_headers=headers, open_timeout=60, compression=None, max_size=16 << 20
                )
        except (OSError, InvalidHandshake, TimeoutError):
            fleet.errors += 1
            await asyncio.sleep(min(5.0, 0.1 * 2**attempt) * random.uniform(0.5, 1))
            continue
        fleet.connected += 1
        if fleet.connected == fleet.count:
            fleet.all_connected.set()
        beats = asyncio.create_task(_heartbeats(ws, heartbeat * random.uniform(0.9, 1.0)))
        try:
            async for frame in ws:
                if isinstance(frame, str):
                    await _answer(fleet, ws, json.loads(frame), description)
        except ConnectionClosed:
            pass
        finally:
            beats.cancel()
            fleet.connected -= 1
        fleet.dropped += 1  # the master closed it (e.g. its set-up failed): reconnect, as a real worker does
        await asyncio.sleep(random.uniform(0.5, 2.0))


async def _heartbeats(ws: ClientConnection, interval: float) -> None:
    text = Heartbeat().model_dump_json()
    with contextlib.suppress(ConnectionClosed):
        while True:
            await asyncio.sleep(interval)
            await ws.send(text)


async def _answer(
    fleet: Fleet, ws: ClientConnection, message: dict[str, object], description: dict[str, object]
) -> None:
    kind, request_id = message.get("type"), message.get("id")
    if kind == "describe":
        await ws.send(Response(id=int(str(request_id)), result=description).model_dump_json())
    elif kind == "list":
        await ws.send(
            Response(id=int(str(request_id)), result=RunList(runs=[]).model_dump(mode="json")).model_dump_json()
        )
    elif kind == "execute":
        run = message["run"]
        assert isinstance(run, dict)
        run_id = str(run["run_id"])
        await ws.send(Response(id=int(str(request_id)), result={"run_id": run_id, "started": True}).model_dump_json())
        started = datetime.now(UTC)
        running = WorkerRunState(run_id=run_id, status=RunStatus.running, log_size=0, started_at=started)
        await ws.send(StatusUpdate(state=running).model_dump_json())
        done = WorkerRunState(run_id=run_id, status=RunStatus.succeeded, log_size=0, started_at=started,
                              completed_at=datetime.now(UTC))  # fmt: skip
        await ws.send(StatusUpdate(state=done).model_dump_json())
        fleet.executed += 1
    elif kind in ("clean", "resync", "abort", "request"):
        await ws.send(Response(id=int(str(request_id))).model_dump_json())


async def main_async(args: argparse.Namespace) -> None:
    """Start every worker, report progress on stdout, stop on SIGTERM."""
    fleet = Fleet(args.count)
    auth = "Basic " + base64.b64encode(f"{args.user}:{args.token}".encode()).decode()
    opening = asyncio.Semaphore(args.parallel)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop.set)
    tasks = [asyncio.create_task(worker(fleet, args.master, f"{args.prefix}{n:05d}", auth, args.heartbeat, opening))
             for n in range(args.count)]  # fmt: skip
    waiter = asyncio.create_task(fleet.all_connected.wait())
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([waiter, stopper], return_when=asyncio.FIRST_COMPLETED)
    sys.stdout.write(f"connected {fleet.connected} errors {fleet.errors} dropped {fleet.dropped}\n")
    sys.stdout.flush()
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        sys.stdout.write(f"executed {fleet.executed} connected {fleet.connected} dropped {fleet.dropped}\n")
        sys.stdout.flush()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def main() -> None:
    """Parse the flags and run the fleet."""
    parser = argparse.ArgumentParser(prog="python -m bench.fleet_workers", description=__doc__)
    parser.add_argument("--master", required=True, help="ws://HOST:PORT/ws/worker")
    parser.add_argument("--user", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--prefix", default="sim-")
    parser.add_argument("--heartbeat", type=float, default=10.0, help="seconds between heartbeats")
    parser.add_argument("--parallel", type=int, default=50, help="connections opened at once")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
