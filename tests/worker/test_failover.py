"""A worker given several masters: it skips one that does not answer, and moves to the next when its
master goes away, with its runs carrying on and resynced to the new master."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from websockets.asyncio.server import serve

from podium_model import RunStatus
from podium_model.messages import (
    Execute,
    ListRuns,
    Response,
    Resync,
    StatusUpdate,
    decode_log_chunk,
    worker_message_adapter,
)
from tests.support import Service, free_port
from tests.worker.fake_master import FakeMaster, request


async def test_the_worker_skips_a_dead_master_and_fails_over_with_its_run(tmp_path: Path) -> None:
    first, second = FakeMaster(), FakeMaster()
    gate = tmp_path / "gate"
    dead = f"ws://127.0.0.1:{free_port()}/ws/worker"  # nothing listens there
    async with serve(first.handler, "127.0.0.1", 0) as one, serve(second.handler, "127.0.0.1", 0) as two:
        urls = [f"ws://127.0.0.1:{s.sockets[0].getsockname()[1]}/ws/worker" for s in (one, two)]
        argv = ["podium-worker", "--id", "w1", "--token", "t", "--home", str(tmp_path / "home")]
        for url in (dead, *urls):
            argv += ["--master", url]
        worker = Service("worker", argv, output_dir=tmp_path).start()
        try:
            async with asyncio.timeout(30):
                await first.connected.wait()
            assert f"connection to {dead} failed" in worker.output
            script = f"echo before; while [ ! -e {gate} ]; do sleep 0.02; done; echo after"
            await first.send(Execute(id=1, run=request("r1", script)))
            assert (await first.next_message(Response)).ok
            assert (await first.next_message(StatusUpdate)).state.status == RunStatus.running

            one.close()  # the first master goes away; its connection with it
            assert first.connection is not None
            await first.connection.close()
            gone = time.monotonic()
            async with asyncio.timeout(30):
                await second.connected.wait()
            assert time.monotonic() - gone < 5

            await second.send(ListRuns(id=1))
            listed = await second.next_message(Response)
            assert listed.result is not None and [run["run_id"] for run in listed.result["runs"]] == ["r1"]
            await second.send(Resync(id=2, run_id="r1", offset=0))
            gate.touch()
            log = b""
            async with asyncio.timeout(30):
                while True:
                    frame = await second.frames.get()
                    if isinstance(frame, bytes):
                        header, data = decode_log_chunk(frame)
                        assert header.offset == len(log)
                        log += data
                        continue
                    message = worker_message_adapter.validate_json(frame)
                    if isinstance(message, StatusUpdate) and message.state.status.is_final:
                        break
            assert message.state.status == RunStatus.succeeded and message.state.log_size == len(log)
            assert log == b"before\nafter\n"
        finally:
            worker.kill()
