"""`python -m bench.floor`: the floor of one durable run on this machine, piece by piece.

A run that is durable and observed needs at least: the trigger's HTTP round trip, its row
committed before the 201, one message to a worker and one back, one fork + exec of the command,
the final status committed before it is reported, and one event pushed to the client. Each
piece is measured here alone, with nothing of Podium in it, as wall time (p50 and min of many)
and, where it is this process's own work, CPU time; `docs/benchmarks.md` ("Where the floor is")
sets Podium's phases beside them. Nothing here is asserted anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.stats import percentile

ROW = "x" * 600  # about a run row's size as Podium stores it


def timed(action: Callable[[], object], count: int) -> dict[str, float]:
    """Wall p50/min of `action` in ms, and this process's CPU per call in ms (children included)."""
    walls: list[float] = []
    cpu0 = _cpu()
    for _ in range(count):
        start = time.perf_counter()
        action()
        walls.append(time.perf_counter() - start)
    cpu = (_cpu() - cpu0) / count
    return {"p50_ms": round(percentile(walls, 0.5) * 1000, 3), "min_ms": round(min(walls) * 1000, 3),
            "cpu_ms": round(cpu * 1000, 3)}  # fmt: skip


def _cpu() -> float:
    own = os.times()
    return own.user + own.system + own.children_user + own.children_system


def fsync_write(directory: Path, count: int) -> dict[str, float]:
    """A 4 KiB append and `fdatasync`: what one synchronous commit costs the disk at least."""
    fd = os.open(directory / "fsync.bin", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    block = os.urandom(4096)
    try:
        return timed(lambda: (os.write(fd, block), os.fdatasync(fd)), count)
    finally:
        os.close(fd)


def fsync_overwrite(directory: Path, count: int) -> dict[str, float]:
    """A 4 KiB write into a preallocated file and `fdatasync` (no size change: what a WAL that
    reuses its segments, as PostgreSQL's does, pays per commit)."""
    fd = os.open(directory / "prealloc.bin", os.O_RDWR | os.O_CREAT, 0o600)
    block = os.urandom(4096)
    os.posix_fallocate(fd, 0, 4096 * count)
    os.write(fd, b"\0" * 4096 * count)
    os.fsync(fd)
    offsets = iter(range(0, 4096 * count, 4096))
    try:
        return timed(lambda: (os.pwrite(fd, block, next(offsets)), os.fdatasync(fd)), count)
    finally:
        os.close(fd)


def sqlite_commit(directory: Path, count: int, synchronous: str) -> dict[str, float]:
    """One INSERT and COMMIT of a run-sized row, in WAL mode with `synchronous` (Podium: NORMAL)."""
    connection = sqlite3.connect(directory / f"floor-{synchronous}.db", isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA synchronous={synchronous}")
    connection.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, body TEXT)")

    def commit() -> None:
        connection.execute("BEGIN")
        connection.execute("INSERT INTO runs (body) VALUES (?)", (ROW,))
        connection.execute("COMMIT")

    try:
        return timed(commit, count)
    finally:
        connection.close()


def postgres_commit(url: str, count: int) -> dict[str, float] | None:
    """One INSERT committed on PostgreSQL (the server's WAL flush included); None when it does not answer."""
    try:
        import asyncpg  # type: ignore[import-untyped]
    except ImportError:
        return None

    async def measure() -> dict[str, float]:
        connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await connection.execute("CREATE TEMP TABLE floor_runs (id serial PRIMARY KEY, body text)")
            walls: list[float] = []
            for _ in range(count):
                start = time.perf_counter()
                await connection.execute("INSERT INTO floor_runs (body) VALUES ($1)", ROW)
                walls.append(time.perf_counter() - start)
            return {"p50_ms": round(percentile(walls, 0.5) * 1000, 3), "min_ms": round(min(walls) * 1000, 3)}
        finally:
            await connection.close()

    try:
        return asyncio.run(measure())
    except OSError:
        return None


def spawn_echo(count: int) -> dict[str, float]:
    """`posix_spawn` of `echo hello` with its output in a pipe, read to the end and reaped."""
    echo = "/bin/echo"

    def once() -> None:
        read_fd, write_fd = os.pipe()
        pid = os.posix_spawn(echo, [echo, "hello"], {}, file_actions=[(os.POSIX_SPAWN_DUP2, write_fd, 1)])
        os.close(write_fd)
        while os.read(read_fd, 65536):
            pass
        os.close(read_fd)
        os.waitpid(pid, 0)

    return timed(once, count)


def tcp_round_trip(count: int) -> dict[str, float]:
    """64 bytes to a thread on 127.0.0.1 and back (TCP_NODELAY): the loopback's round trip."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def echo() -> None:
        connection, _ = server.accept()
        with connection:
            while data := connection.recv(64):
                connection.sendall(data)

    thread = threading.Thread(target=echo, daemon=True)
    thread.start()
    client = socket.create_connection(("127.0.0.1", port))
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    payload = b"p" * 64
    try:
        return timed(lambda: (client.sendall(payload), client.recv(64)), count)
    finally:
        client.close()
        thread.join(5)
        server.close()


def websocket_round_trip(count: int) -> dict[str, float]:
    """A 200-byte JSON text frame to a websockets server in this process and back (both on one loop)."""
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import ServerConnection, serve

    async def echo(connection: ServerConnection) -> None:
        async for message in connection:
            await connection.send(message)

    async def measure() -> dict[str, float]:
        async with serve(echo, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}") as client:
                text = json.dumps({"type": "status", "run_id": "0" * 36, "pad": "x" * 140})
                walls: list[float] = []
                for _ in range(count):
                    start = time.perf_counter()
                    await client.send(text)
                    await client.recv()
                    walls.append(time.perf_counter() - start)
        return {"p50_ms": round(percentile(walls, 0.5) * 1000, 3), "min_ms": round(min(walls) * 1000, 3)}

    return asyncio.run(measure())


APP = """
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def trigger(request):
    await request.body()
    return JSONResponse({"id": "0" * 36, "status": "pending"}, status_code=201)

app = Starlette(routes=[Route("/runs", trigger, methods=["POST"])])
"""


def http_round_trip(directory: Path, count: int) -> dict[str, float]:
    """A JSON POST answered 201 by a bare Starlette app under uvicorn (another process), with httpx."""
    import httpx

    (directory / "floor_app.py").write_text(APP)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "uvicorn", "floor_app:app", "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(command, cwd=directory)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    client.post("/runs", json={})
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)  # polling the server's start, bounded by the deadline
            return timed(lambda: client.post("/runs", json={"parameters": {}}), count)
    finally:
        server.terminate()
        server.wait(10)


def main(argv: list[str] | None = None) -> int:
    """Measure every piece and print one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500, help="repetitions of each piece (default 500)")
    parser.add_argument("--postgres-url", default=os.environ.get("PODIUM_BENCH_POSTGRES_URL",
                        "postgresql://postgres@127.0.0.1:5432/test"))  # fmt: skip
    args = parser.parse_args(argv)
    count = args.count
    with tempfile.TemporaryDirectory(prefix="podium-floor-") as temporary:
        directory = Path(temporary)
        pieces: dict[str, Any] = {
            "fsync_4k_append": fsync_write(directory, count),
            "fsync_4k_overwrite": fsync_overwrite(directory, count),
            "sqlite_commit_normal": sqlite_commit(directory, count, "NORMAL"),
            "sqlite_commit_full": sqlite_commit(directory, count, "FULL"),
            "postgres_commit": postgres_commit(args.postgres_url, count),
            "spawn_echo": spawn_echo(count),
            "tcp_round_trip": tcp_round_trip(count * 4),
            "websocket_round_trip": websocket_round_trip(count * 4),
            "http_round_trip": http_round_trip(directory, count),
        }
    pieces["load_average"] = list(os.getloadavg())
    sys.stdout.write(json.dumps(pieces, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
