"""A final status is acknowledged by `clean`: until it comes, the worker keeps the run and sends it again."""

from __future__ import annotations

import time
from pathlib import Path

from websockets.asyncio.server import serve

from podium_model import RunStatus
from podium_model.messages import Clean, Execute, Response, StatusUpdate
from podium_worker.runs import FINAL_RESEND_FIRST
from tests.support import Service
from tests.worker.fake_master import FakeMaster, request


async def test_an_unacknowledged_final_status_is_sent_again_until_cleaned(tmp_path: Path) -> None:
    """A master that stored nothing (no `clean`): the same final status comes again after the resend
    delay on the same connection, and the run's files stay until the `clean` arrives."""
    fake = FakeMaster()
    async with serve(fake.handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        home = tmp_path / "home"
        argv = [
            "podium-worker", "--master", f"ws://127.0.0.1:{port}/ws/worker", "--id", "w1", "--token", "t",
            "--home", str(home),
        ]  # fmt: skip
        worker = Service("worker", argv, output_dir=tmp_path).start()
        try:
            await fake.connected.wait()
            await fake.send(Execute(id=1, run=request("r1", "echo done")))
            assert (await fake.next_message(Response, 60)).ok

            async def final() -> StatusUpdate:
                while not (status := await fake.next_message(StatusUpdate, 60)).state.status.is_final:
                    pass
                return status

            first = await final()
            sent = time.monotonic()
            again = await final()
            assert time.monotonic() - sent >= FINAL_RESEND_FIRST * 0.9
            assert again.state == first.state and first.state.status == RunStatus.succeeded
            assert (home / "runs" / "r1").exists()  # kept: not acknowledged yet

            await fake.send(Clean(id=2, run_id="r1"))
            assert (await fake.next_message(Response)).ok
            assert not (home / "runs" / "r1").exists()
            assert worker.output.count("connected to ") == 1, worker.output
        finally:
            worker.kill()
