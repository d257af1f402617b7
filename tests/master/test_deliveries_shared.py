"""Webhooks out with two masters on one PostgreSQL, as real processes: each attempt is posted by one master.

Both masters' senders see every pending delivery (each reads them at least every 10 s when
masters share the database, and then keeps its own timers for their retries), so without the
claim in storage both would post each retry. A master killed mid-send leaves its claim to
expire (`--delivery-timeout` + 5 s) and the other posts the delivery again.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from sqlalchemy import text

from podium_storage.sql.engine import create_engine
from podium_storage.urls import sql_url
from tests.integration.test_webhooks_out import FAST_RETRIES, SECRET, Received, Receiver, _check_signed
from tests.master.test_several_masters import Masters, stack
from tests.stack import Stack
from tests.support import free_port, wait_until

pytestmark = pytest.mark.postgres
__all__ = ["stack"]  # the fixture: a prepared PostgreSQL database holding the demo project

RUNS = 8
TIMEOUT = "2"
"""`--delivery-timeout`: a claim lasts 2 + 5 s."""


class HoldingReceiver(Receiver):
    """A receiver that, on `/hold`, answers only once `release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.held = threading.Event()

    def start(self) -> Any:
        server = super().start()
        handler = server.RequestHandlerClass
        receiver = self
        answer = handler.do_POST  # type: ignore[attr-defined]

        def do_post(request: Any) -> None:
            if request.path == "/hold":
                receiver.held.set()
                receiver.release.wait(60)
            answer(request)

        handler.do_POST = do_post  # type: ignore[attr-defined]
        return server


def _configuration(receiver: Receiver) -> dict[str, Any]:
    jobs = [
        {"id": "ok", "definition": {"type": "job", "commands": [["true"]]}},
        {"id": "held", "definition": {"type": "job", "commands": [["true"]]}},
    ]
    notifications = [
        {"url": receiver.url("/all"), "events": ["run.finished"], "jobs": ["ok"], "secret": "NOTIFY"},
        {"url": receiver.url("/hold"), "events": ["run.finished"], "jobs": ["held"], "secret": "NOTIFY"},
    ]
    return {"projects": [{"id": "announced", "jobs": jobs, "notifications": notifications}]}


def _start(stack: Stack, receiver: Receiver) -> Masters:
    """The api applies the configuration first; the masters then read the notifications at their start.

    (A configuration applied later reaches only the master the api names; the other reads
    the notifications at its next start.)
    """
    masters = Masters(stack)
    masters.ports["a"] = free_port()
    stack.config = None  # the project below is the configuration
    stack.master_port = masters.ports["a"]
    stack.master_url = masters.url("a")
    stack.start_api()
    client = stack.client
    assert client.put("/admin/configuration", json={"projects": [{"id": "announced"}]}).status_code == 200
    assert client.put("/projects/announced/secrets/NOTIFY", json={"value": SECRET}).status_code == 200
    answer = client.put("/admin/configuration", json=_configuration(receiver))
    assert answer.status_code == 200, answer.text
    flags = ("--secrets-key-file", str(stack.secrets_key_file), "--delivery-timeout", TIMEOUT, *FAST_RETRIES)
    masters.start("a", *flags)
    masters.start("b", *flags)
    stack.start_worker("wa", 4, masters=(masters.socket("a"),))
    stack.start_worker("wb", 4, masters=(masters.socket("b"),))
    return masters


def _claimed_by(database_url: str, delivery_id: str) -> str | None:
    async def read() -> str | None:
        engine = create_engine(sql_url(database_url), write=False)
        try:
            async with engine.connect() as connection:
                query = text("SELECT claimed_by FROM deliveries WHERE id = :id")
                return (await connection.execute(query, {"id": delivery_id})).scalar()
        finally:
            await engine.dispose()

    return asyncio.run(read())


def _accepted(receiver: Receiver, path: str) -> dict[str, list[Received]]:
    by_id: dict[str, list[Received]] = {}
    for request in receiver.at(path):
        if request.answered == 200:
            by_id.setdefault(request.headers["x-podium-delivery"], []).append(request)
    return by_id


def test_each_delivery_is_posted_once_by_one_of_two_masters(stack: Stack) -> None:
    """20 runs over two masters, the receiver refusing until both senders hold every delivery: each accepted once."""
    receiver = HoldingReceiver()
    server = receiver.start()
    receiver.refusing.add("/all")
    masters = _start(stack, receiver)
    try:
        runs = [stack.trigger("announced", "ok")["id"] for _ in range(RUNS)]
        for run_id in runs:
            assert stack.wait_run("announced", run_id, timeout=60)["status"] == "succeeded"
        ids = [f"{run_id}.00" for run_id in runs]

        def contended() -> bool:  # the retries of most deliveries come from both masters' timers
            outputs = [masters.services[m].output for m in ("a", "b")]
            both = [id for id in ids if all(f"delivery {id} attempt" in output for output in outputs)]
            return len(both) >= RUNS // 2

        # Both senders read the pending deliveries at least every 10 s: then both retry each one.
        # Both senders read the pending deliveries at least every 10 s: then both retry them.
        wait_until(contended, 60, "attempts of most deliveries by both masters")
        with receiver.lock:
            receiver.refusing.discard("/all")
        wait_until(lambda: len(_accepted(receiver, "/all")) == RUNS, 60, "every delivery accepted")

        def listed() -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = stack.client.get(
                "/projects/announced/deliveries", params={"limit": 100}
            ).json()["items"]
            return items

        wait_until(lambda: all(d["status"] == "delivered" for d in listed()), 30, "every delivery recorded")
        accepted = _accepted(receiver, "/all")
        assert sorted(accepted) == sorted(ids)
        assert all(len(requests) == 1 for requests in accepted.values()), {k: len(v) for k, v in accepted.items()}
        for request in receiver.at("/all"):
            _check_signed(request)
        # Each POST was one recorded attempt: no attempt went out twice (from both masters).
        posted: dict[str, int] = {}
        for request in receiver.at("/all"):
            posted[request.headers["x-podium-delivery"]] = posted.get(request.headers["x-podium-delivery"], 0) + 1
        assert {d["id"]: d["attempt_count"] for d in listed()} == posted
        assert {json.loads(r.body)["run"]["id"] for r in receiver.at("/all")} == set(runs)
    finally:
        receiver.release.set()
        stack.stop()
        masters.stop()
        server.shutdown()


def test_a_delivery_whose_master_dies_mid_send_is_sent_by_the_other(stack: Stack) -> None:
    """The master posting a delivery is killed before the answer: the other posts it once its claim expired."""
    receiver = HoldingReceiver()
    server = receiver.start()
    masters = _start(stack, receiver)
    try:
        run_id = stack.trigger("announced", "held")["id"]
        assert stack.wait_run("announced", run_id, timeout=60)["status"] == "succeeded"
        assert receiver.held.wait(30), "the delivery was never posted"
        sender = wait_until(lambda: _claimed_by(stack.database_url, f"{run_id}.00"), 10, "the claim")
        assert sender in ("a", "b")
        masters.services[sender].kill()
        receiver.release.set()  # the killed master's request is answered to nobody
        other = "b" if sender == "a" else "a"

        def delivered() -> dict[str, Any] | None:
            items = stack.client.get("/projects/announced/deliveries", params={"run": run_id}).json()["items"]
            return items[0] if items and items[0]["status"] == "delivered" else None

        delivery = wait_until(delivered, 60, f"delivered by master {other}")
        assert delivery["attempt_count"] == 1  # the killed master recorded nothing
        assert len(receiver.at("/hold")) == 2  # posted by the killed master, then by the other
        assert _claimed_by(stack.database_url, f"{run_id}.00") is None
    finally:
        receiver.release.set()
        stack.stop()
        masters.stop()
        server.shutdown()
