"""An async client of the api for the benchmarks: trigger runs, list them, follow `/api/v1/events`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp

logger = logging.getLogger(__name__)

FINAL = frozenset({"succeeded", "failed", "aborted", "exception", "cancelled"})


def timestamp(value: str | None) -> float | None:
    """Seconds since the epoch of an ISO 8601 date from the api."""
    return None if value is None else datetime.fromisoformat(value).timestamp()


class Api:
    """The api, logged in as the administrator.

    aiohttp, not httpx: the load generator shares the machine's two cores with the system under
    test, and aiohttp spends several times less CPU per request at this concurrency.
    """

    def __init__(self, api_url: str, token: str, connections: int = 100) -> None:
        self.base = f"{api_url}/api/v1"
        self.http = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {token}"},
            timeout=aiohttp.ClientTimeout(total=60),
            connector=aiohttp.TCPConnector(limit=connections),
            read_bufsize=1 << 20,  # one run event per line of the events stream, results included
        )
        self.retries = 0

    async def close(self) -> None:
        """Close the connections."""
        await self.http.close()

    async def put(self, path: str, body: Any) -> None:
        """PUT `body` as JSON to `path` (under /api/v1), which must answer 200."""
        status, answer = await self._call("PUT", f"{self.base}{path}", json=body)
        if status != 200:
            raise RuntimeError(f"PUT {path} answered {status}: {answer[:500]!r}")

    async def trigger(self, project: str, job: str, **parameters: str) -> dict[str, Any]:
        """Trigger a run; the created run."""
        url = f"{self.base}/projects/{project}/jobs/{job}/runs"
        status, body = await self._call("POST", url, json={"parameters": parameters})
        if status != 201:
            raise RuntimeError(f"trigger answered {status}: {body[:500]!r}")
        run: dict[str, Any] = json.loads(body)
        return run

    async def _get(self, path: str, params: Any = None) -> dict[str, Any]:
        status, body = await self._call("GET", f"{self.base}{path}", params=params)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body[:500]!r}")
        document: dict[str, Any] = json.loads(body)
        return document

    async def _call(self, method: str, url: str, **options: Any) -> tuple[int, bytes]:
        """One request and its answer (status, body).

        The api closes a keep-alive connection idle for 5 s; a request that goes out on it just
        then meets a closed connection, unread, so it is sent again once (after the burst's last
        trigger, the once-a-second listing met one).
        """
        try:
            return await self._once(method, url, **options)
        except aiohttp.ServerDisconnectedError:
            self.retries += 1
            return await self._once(method, url, **options)

    async def _once(self, method: str, url: str, **options: Any) -> tuple[int, bytes]:
        async with self.http.request(method, url, **options) as response:
            return response.status, await response.read()

    async def run(self, project: str, run_id: str) -> dict[str, Any]:
        """One run."""
        return await self._get(f"/projects/{project}/runs/{run_id}")

    async def page(self, project: str, **params: Any) -> dict[str, Any]:
        """One page of the run listing (a list value repeats the parameter)."""
        query = [
            (key, str(item))
            for key, value in params.items()
            for item in (value if isinstance(value, list) else [value])
        ]
        return await self._get(f"/projects/{project}/runs", query)

    async def all_runs(self, project: str, **params: Any) -> list[dict[str, Any]]:
        """Every run of the listing, following the cursor (bounded by 10,000 pages)."""
        runs: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(10_000):
            page = await self.page(project, limit=500, **params, **({"cursor": cursor} if cursor else {}))
            runs += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        return runs

    async def unfinished(self, project: str) -> bool:
        """True while some run of the project is pending or running (one small query)."""
        page = await self.page(project, status=["pending", "running"], limit=1)
        return bool(page["items"])


class Events:
    """Holds `GET /api/v1/events` open and notes when each run is first seen in each status."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.seen: dict[str, dict[str, float]] = {}  # run id -> status -> time.time() first seen
        self.runs: dict[str, dict[str, Any]] = {}  # run id -> the last run event
        self.events = 0
        self.connected = asyncio.Event()
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Events:
        self._task = asyncio.create_task(self._follow(), name="events")
        await asyncio.wait_for(self.connected.wait(), 30)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow(self) -> None:
        timeout = aiohttp.ClientTimeout(total=None, connect=10)
        async with self.api.http.get(f"{self.api.base}/events", timeout=timeout) as response:
            response.raise_for_status()
            self.connected.set()
            event, data = "", ""
            async for raw in response.content:
                line = raw.decode().rstrip("\r\n")
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data += line[5:].strip()
                elif not line and data:
                    if event == "run":
                        await self._on_run(json.loads(data), time.time())
                    event, data = "", ""

    async def _on_run(self, run: dict[str, Any], now: float) -> None:
        self.events += 1
        self.runs[run["id"]] = run
        self.seen.setdefault(run["id"], {}).setdefault(run["status"], now)
        async with self._changed:
            self._changed.notify_all()

    def final(self, run_id: str) -> dict[str, Any] | None:
        """The run's final event, once one arrived."""
        run = self.runs.get(run_id)
        return run if run is not None and run["status"] in FINAL else None

    async def wait_final(self, run_id: str, timeout: float) -> dict[str, Any]:
        """Wait until the stream reports the run in a final status; that run."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: self.final(run_id) is not None), timeout)
        run = self.final(run_id)
        assert run is not None
        return run

    async def changed(self, timeout: float) -> None:
        """Wait for the next run event (TimeoutError after `timeout` seconds)."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait(), timeout)

    def final_count(self, run_ids: set[str]) -> int:
        """How many of `run_ids` the stream reported final."""
        return sum(1 for run_id in run_ids if self.final(run_id) is not None)


async def wait_all_final(api: Api, events: Events, project: str, run_ids: set[str], timeout: float) -> None:
    """Wait until every run ended: by the stream, or (once a second) by one small listing query.

    The stream reports changes of the newest and the running runs; a run that goes from pending
    to final between two of its checks may never show up, hence the listing check.
    """
    deadline = time.monotonic() + timeout
    checked = time.monotonic()
    while events.final_count(run_ids) < len(run_ids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(run_ids) - events.final_count(run_ids)} runs still not final after {timeout}s")
        with contextlib.suppress(TimeoutError):
            await events.changed(1.0)
        if time.monotonic() - checked >= 1.0:
            checked = time.monotonic()
            if not await api.unfinished(project):
                return


@dataclass
class Burst:
    """What a burst of runs triggered at once measured."""

    start: float
    triggered_in: float
    seen_end: float
    last_completed: float
    runs: list[dict[str, Any]]

    def statuses(self) -> dict[str, int]:
        """How many of the runs ended in each status."""
        counts: dict[str, int] = {}
        for run in self.runs:
            counts[run["status"]] = counts.get(run["status"], 0) + 1
        return counts


async def burst(api: Api, project: str, job: str, count: int) -> Burst:
    """Trigger `count` runs of `job` at once and wait until the events stream saw each end."""
    async with Events(api) as events:
        start = time.time()
        created = await asyncio.gather(*(api.trigger(project, job) for _ in range(count)))
        triggered_in = time.time() - start
        ids = {run["id"] for run in created}
        await wait_all_final(api, events, project, ids, timeout=600)
        seen_end = time.time()
    done = [run for run in await api.all_runs(project) if run["id"] in ids]
    completed = [c for c in (timestamp(run.get("completed_at")) for run in done) if c is not None]
    return Burst(start, triggered_in, seen_end, max(completed) if completed else seen_end, done)
