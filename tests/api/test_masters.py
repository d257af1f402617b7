"""The api's masters: several URLs, DNS discovery, a call reaching every master, health naming each one.

The masters are recording stand-ins (`RecordingMaster`, real HTTP servers on loopback); the
real masters on PostgreSQL are in `test_several_masters.py`.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from podium_api.__main__ import parse_args
from podium_api.feed import RESYNC, TIMEOUT, MasterFeed
from podium_api.masters import preferred, resolve
from podium_api.routes.streams import _Changes
from podium_api.settings import ApiSettings, check_transport
from podium_model import Run, RunSource, utcnow
from podium_model.control import ControlAnswer, ControlResult, LogGrew
from podium_model.runs import RunStatus
from tests.api.conftest import SECRET, started_api
from tests.api.recording_master import RecordingMaster
from tests.support import wait_until


def test_the_masters_come_from_repeated_flags_or_a_comma_separated_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--master-url` twice, or PODIUM_MASTER_URL="a, b", name two masters; one URL stays one."""
    given = parse_args(["--master-url", "http://127.0.0.1:1", "--master-url", "http://127.0.0.1:2/"])
    assert ApiSettings(**given).master_urls == ["http://127.0.0.1:1", "http://127.0.0.1:2"]
    monkeypatch.setenv("PODIUM_MASTER_URL", "http://127.0.0.1:1, http://127.0.0.1:2,,http://127.0.0.1:1")
    assert ApiSettings().master_urls == ["http://127.0.0.1:1", "http://127.0.0.1:2"]
    monkeypatch.setenv("PODIUM_API_MASTER_DISCOVERY", "dns")
    assert ApiSettings().master_discovery == "dns"
    monkeypatch.delenv("PODIUM_MASTER_URL")
    monkeypatch.delenv("PODIUM_API_MASTER_DISCOVERY")
    assert ApiSettings().master_urls == ["http://127.0.0.1:8701"]


def test_discovery_takes_plain_http_only_and_says_why() -> None:
    """An https master with `--master-discovery dns` is refused at start-up with exit code 2."""
    settings = ApiSettings(master_url="https://masters.example:8701", master_discovery="dns")
    with pytest.raises(ValueError, match="--master-discovery dns takes http:// master URLs only"):
        check_transport(settings)
    with pytest.raises(ValueError, match="names no master"):
        check_transport(ApiSettings(master_url=" , "))
    result = subprocess.run(
        ["podium-api", "--master-discovery", "dns", "--master-url", "https://masters.example:8701"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "takes http:// master URLs only" in result.stderr, result.stderr


async def test_a_name_resolves_to_one_url_per_address() -> None:
    """localhost gives its loopback address(es); an address stands for itself; a bad name says why."""
    found, failed = await resolve(["http://localhost:8701", "http://[::1]:8702", "http://no-such-host.invalid:1"])
    assert "http://127.0.0.1:8701" in found and "http://[::1]:8702" in found
    assert all(url.startswith(("http://127.", "http://[::1]")) for url in found), found
    assert list(failed) == ["http://no-such-host.invalid:1"]


def test_the_answer_of_the_master_that_acted_wins() -> None:
    """`sent` from the master holding the worker wins over `deferred` from the other, whatever the order."""
    sent = ControlAnswer(result=ControlResult.sent, status=RunStatus.running)
    deferred = ControlAnswer(result=ControlResult.deferred, status=RunStatus.running)
    assert preferred([deferred, None, sent]) is sent
    assert preferred([None, deferred]) is deferred
    assert preferred([None, None]) is None


@pytest.fixture
def other() -> Iterator[RecordingMaster]:
    """A second recording master."""
    recorder = RecordingMaster(SECRET).start()
    yield recorder
    recorder.stop()


def _login(client: httpx.Client) -> None:
    token = client.post("/me/login", json={"user": "admin", "password": "pw-admin-1"}).json()["token"]
    client.headers["Authorization"] = f"Bearer {token}"


def test_every_master_hears_the_calls_and_one_down_is_named(
    database_url: str, tmp_path: Path, master: RecordingMaster, other: RecordingMaster
) -> None:
    """Two masters: a dispatch wakes both, an abort and a disconnect reach both; health names the one down.

    A trigger sends the dispatch on SQLite; on PostgreSQL the run's insert wakes the masters
    itself (NOTIFY), so the test enables the job instead, which still calls every master.
    """

    def runnable() -> None:
        path = "/projects/demo/jobs/hello/enable" if database_url.startswith("postgresql") else None
        answer = client.post(path) if path else client.post("/projects/demo/jobs/hello/runs", json={})
        assert answer.status_code in (200, 201), answer.text

    with (
        started_api(database_url, tmp_path, "--master-url", master.url, "--master-url", other.url) as api,
        httpx.Client(base_url=api.url, timeout=10) as client,
    ):
        health = client.get("/health").json()
        assert health["status"] == "ok" and health["master"] == "ok", health
        assert [(m["url"], m["reachable"]) for m in health["masters"]] == [(master.url, True), (other.url, True)]
        _login(client)
        master.wait_feeds()
        other.wait_feeds()
        runnable()
        for recorder in (master, other):
            assert recorder.wait_call("/control/dispatch").secret == SECRET
        other.stop()
        down: dict[str, Any] = client.get("/health").json()
        assert down["status"] == "degraded" and down["master"] == "unreachable", down
        assert [(m["url"], m["reachable"]) for m in down["masters"]] == [(master.url, True), (other.url, False)]
        assert other.url in down["master_reason"], down
        dispatches = sum(call.path == "/control/dispatch" for call in master.calls)
        runnable()
        wait_until(lambda: sum(c.path == "/control/dispatch" for c in master.calls) > dispatches, 10, "a new dispatch")
        assert client.get("/admin/info").json()["master_url"] == f"{master.url},{other.url}"


def test_discovery_calls_the_addresses_a_name_resolves_to(
    database_url: str, tmp_path: Path, master: RecordingMaster
) -> None:
    """`--master-discovery dns` with `localhost`: the master is called at 127.0.0.1 and its feed followed."""
    named = master.url.replace("127.0.0.1", "localhost")
    with (
        started_api(database_url, tmp_path, "--master-discovery", "dns", "--master-url", named) as api,
        httpx.Client(base_url=api.url, timeout=10) as client,
    ):
        health = client.get("/health").json()
        assert (master.url, True) in [(m["url"], m["reachable"]) for m in health["masters"]], health
        master.wait_feeds()
        _login(client)
        if database_url.startswith("postgresql"):  # a run's insert wakes the masters itself (NOTIFY)
            assert client.post("/projects/demo/jobs/hello/enable").status_code == 200
        else:
            assert client.post("/projects/demo/jobs/hello/runs", json={}).status_code == 201
        master.wait_call("/control/dispatch")
    assert f"master found at {master.url}" in api.service.output


async def test_the_feed_merges_both_masters_and_resyncs_when_either_drops(
    master: RecordingMaster, other: RecordingMaster
) -> None:
    """Events of both masters reach one subscription; a drop of either says RESYNC and the feed is down until back."""
    feed = MasterFeed([master.url, other.url], SECRET, max_backoff=0.2)
    subscription = feed.subscribe()
    feed.start()
    try:
        await asyncio.to_thread(master.wait_feeds)
        await asyncio.to_thread(other.wait_feeds)
        async with asyncio.timeout(30):
            while not feed.connected:
                assert await subscription.next(1.0) in (RESYNC, TIMEOUT)
        while subscription.pending() or (await subscription.next(0.05)) is not TIMEOUT:
            pass  # the RESYNCs of both connections
        for recorder, size in ((master, 1), (other, 2)):
            recorder.publish({"kind": "log", "project": "demo", "run_id": "r1", "size": size})
        got = [await subscription.next(10.0), await subscription.next(10.0)]
        assert sorted(event.size for event in got if isinstance(event, LogGrew)) == [1, 2], got
        other.drop_feeds()
        assert await subscription.next(10.0) is RESYNC
        await asyncio.to_thread(other.wait_feeds, 2)
        async with asyncio.timeout(30):
            while not feed.connected:
                await subscription.next(0.1)
        other.publish({"kind": "log", "project": "demo", "run_id": "r1", "size": 3})
        async with asyncio.timeout(30):
            while not isinstance(item := await subscription.next(1.0), LogGrew):
                assert item in (RESYNC, TIMEOUT)
        assert item.size == 3 and feed.connections == 3
    finally:
        subscription.close()
        await feed.close()


def test_an_events_stream_drops_a_change_older_than_the_one_it_sent() -> None:
    """Two masters' feeds may interleave: a run's older state arriving after its newer one is not sent."""
    now = utcnow()
    running = Run(
        project="demo", id="r1", job="hello", source=RunSource(type="api"), status=RunStatus.running,
        created_at=now, updated_at=now,
    )  # fmt: skip
    ended = running.model_copy(update={"status": RunStatus.succeeded, "updated_at": now + timedelta(seconds=1)})
    changes = _Changes()
    assert changes.run(ended) is not None
    assert changes.run(running) is None and changes.run(ended) is None
