"""Prometheus metrics of the api process, served as text by `GET /api/v1/metrics`.

Each application has its own registry (tests build several apps in one process). What is
measured: the latency of HTTP requests (to the start of the response, so live streams count
their set-up only) by method, route template and status class; and, read at scrape time, the
runs in each non-final status and the workers (both cheap, bounded storage reads), the state of
the master's event feed and the number of open live streams.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from podium_api.feed import MasterFeed
from podium_model import RunStatus
from podium_storage.interface import Storage

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ACTIVE = (RunStatus.pending, RunStatus.running)
PENDING_LIMIT = 100_000


class ApiMetrics:
    """The metrics of one api application, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Histogram(
            "podium_api_request_duration_seconds",
            "Time from request to the start of the response, by route template and status class",
            ["method", "route", "status"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.runs = Gauge(
            "podium_runs", "Runs in a non-final status (from storage)", ["status"], registry=self.registry
        )
        self.workers = Gauge("podium_workers", "Workers by state (from storage)", ["state"], registry=self.registry)
        self.feed_connected = Gauge(
            "podium_api_master_feed_connected",
            "1 while the event feed of every master is connected",
            registry=self.registry,
        )
        self.feed_connections = Counter(
            "podium_api_master_feed_connections", "Connections made to the masters' event feeds", registry=self.registry
        )
        self.streams = Gauge("podium_api_live_streams", "Open live streams (SSE clients)", registry=self.registry)
        self._connections_seen = 0

    async def refresh(self, storage: Storage, feed: MasterFeed) -> None:
        """Read the scrape-time values (runs, workers, feed) before the registry is rendered."""
        pending = await storage.list_pending_runs(limit=PENDING_LIMIT)
        active = await storage.list_active_runs()
        counts = {status: 0 for status in ACTIVE}
        for run in [*pending, *active]:
            if run.status in counts:
                counts[run.status] += 1
        for status, count in counts.items():
            self.runs.labels(status.value).set(count)
        workers = await storage.list_workers()
        self.workers.labels("active").set(sum(worker.is_active for worker in workers))
        self.workers.labels("enabled").set(sum(worker.is_enabled for worker in workers))
        self.workers.labels("known").set(len(workers))
        self.feed_connected.set(1 if feed.connected else 0)
        self.feed_connections.inc(feed.connections - self._connections_seen)
        self._connections_seen = feed.connections
        self.streams.set(feed.subscribers)


class MetricsMiddleware:
    """ASGI middleware observing each HTTP request's latency into `ApiMetrics.requests`."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics, templates: dict[str, str]) -> None:
        self.app = app
        self.metrics = metrics
        self.templates = templates
        """Operation id → full path template (routes of included routers know only their own part)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        observed = False

        def observe(status: int) -> None:
            nonlocal observed
            if observed:
                return
            observed = True
            route = scope.get("route")
            operation_id = getattr(route, "operation_id", None)
            template = self.templates.get(operation_id or "") or getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(scope.get("method", ""), template, f"{status // 100}xx").observe(
                time.perf_counter() - started
            )

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                observe(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        except BaseException:
            observe(500)
            raise
