"""The sender of webhooks out, in process against a real storage and a local receiver: give-up, secrets."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from podium_master.deliveries import Sender
from podium_master.settings import MasterSettings
from podium_model import RunSource, RunStatus
from podium_model.notifications import Delivery, DeliveryStatus, Notification
from podium_storage import Storage, migrate, open_storage
from podium_storage.interface import RunWrite
from podium_storage.sealing import generate_key
from podium_storage.secretfiles import secrets_keys
from tests.support import free_port

KEYS = secrets_keys(generate_key())


@pytest.fixture
def refusing() -> Iterator[str]:
    """The URL of a receiver that answers every POST 500."""
    port = free_port()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        server.shutdown()


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    url = f"sqlite+aiosqlite:///{tmp_path}/podium.db"
    await migrate(url)
    async with open_storage(url) as opened:
        await opened.put_project("p")
        yield opened


async def _end_run(storage: Storage, notification: Notification) -> str:
    run = await storage.create_run("p", "build", {}, RunSource())
    await storage.write_runs([RunWrite(run.id, None, RunStatus.cancelled, (RunStatus.pending,), {"p": [notification]})])
    return run.id


async def _until(storage: Storage, run_id: str, status: DeliveryStatus) -> Delivery:
    async with asyncio.timeout(10):
        while True:
            (delivery,) = (await storage.list_deliveries("p")).items
            if delivery.run == run_id and delivery.status is status:
                return delivery
            await asyncio.sleep(0.02)  # polling the database the sender writes, with a deadline


async def test_a_delivery_never_answered_2xx_is_given_up(storage: Storage, tmp_path: Path, refusing: str) -> None:
    """Retried with doubling waits until `delivery_give_up` after the run's end, then `failed`."""
    assert KEYS is not None
    await storage.put_secret("p", "HOOK", KEYS.seal("p", "HOOK", "a-secret-value"))
    settings = MasterSettings(log_dir=tmp_path, delivery_retry_delay=0.02, delivery_give_up=0.5)
    sender = Sender(settings, storage, KEYS)
    task = asyncio.create_task(sender.run_forever())
    try:
        run_id = await _end_run(storage, Notification(url=refusing, events=["run.finished"], secret="HOOK"))
        sender.wake()
        failed = await _until(storage, run_id, DeliveryStatus.failed)
    finally:
        task.cancel()
    assert failed.attempt_count >= 3 and failed.next_attempt_at is None
    assert {attempt.status_code for attempt in failed.attempts} == {500}
    gaps = [(b.at - a.at).total_seconds() for a, b in zip(failed.attempts, failed.attempts[1:], strict=False)]
    assert gaps[-1] > gaps[0]  # the waits grow (0.02 s, then doubling)


async def test_a_missing_secret_is_a_failed_attempt_naming_it(storage: Storage, tmp_path: Path, refusing: str) -> None:
    """Nothing is sent unsigned: the attempt fails saying which secret is missing, and is retried."""
    settings = MasterSettings(log_dir=tmp_path, delivery_retry_delay=30)
    sender = Sender(settings, storage, KEYS)
    task = asyncio.create_task(sender.run_forever())
    try:
        run_id = await _end_run(storage, Notification(url=refusing, events=["run.finished"], secret="ABSENT"))
        sender.wake()
        async with asyncio.timeout(10):
            while not (delivery := (await storage.list_deliveries("p")).items[0]).attempts:
                await asyncio.sleep(0.02)
    finally:
        task.cancel()
    assert delivery.run == run_id and delivery.status is DeliveryStatus.pending
    (attempt,) = delivery.attempts
    assert attempt.status_code is None and attempt.error == "secret ABSENT of project p does not exist"
