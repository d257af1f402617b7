"""The master's Prometheus metrics, served at `GET /metrics`.

Counters and histograms are moved where things happen (the run lifecycle, the worker
sessions); gauges that describe the present (pending runs, connected workers) are computed
when scraped. Label values stay bounded: statuses and protocol error codes are fixed sets,
and project/job pairs beyond `MAX_JOB_LABELS` are counted under `project="other"`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from podium_model import Run, utcnow

if TYPE_CHECKING:
    from podium_master.master import Master

logger = logging.getLogger(__name__)

MAX_JOB_LABELS = 1000
OTHER = "other"
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
DURATION_BUCKETS = (0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 21600, 86400)
KNOWN_ERRORS = frozenset(
    {"malformed", "version", "too-big", "unknown-request", "unknown-run", "bad-status", "timeout", "worker"}
)


class MasterMetrics:
    """Every metric of one master, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.pending_runs = Gauge("podium_master_pending_runs", "Runs waiting for a worker", registry=r)
        self.pending_oldest_age = Gauge(
            "podium_master_pending_oldest_age_seconds", "Age of the oldest pending run (0: none)", registry=r
        )
        self.start_latency = Histogram(
            "podium_run_start_latency_seconds",
            "From trigger to start (pending to running)",
            ["project", "job"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.duration = Histogram(
            "podium_run_duration_seconds",
            "From start to final status",
            ["project", "job"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.finished = Counter(
            "podium_runs_finished_total", "Runs that reached a final status", ["status"], registry=r
        )
        self.workers_connected = Gauge("podium_master_workers_connected", "Open worker connections", registry=r)
        self.workers_active = Gauge("podium_master_workers_active", "Workers ready to take runs", registry=r)
        self.slots_busy = Gauge("podium_master_worker_slots_busy", "Runs held by connected workers", registry=r)
        self.slots_total = Gauge("podium_master_worker_slots", "Executor slots of ready workers", registry=r)
        self.log_bytes = Counter("podium_master_log_bytes_received_total", "Run log bytes stored", registry=r)
        self.log_resyncs = Counter("podium_master_log_resyncs_total", "Log resyncs asked of workers", registry=r)
        self.protocol_errors = Counter(
            "podium_master_protocol_errors_total", "Protocol errors, by code", ["code"], registry=r
        )
        self.storage_errors = Counter(
            "podium_master_storage_errors_total", "Database operations that failed and were retried", registry=r
        )
        self._jobs: set[tuple[str, str]] = set()

    def _job_labels(self, run: Run) -> tuple[str, str]:
        key = (run.project, run.job)
        if key in self._jobs:
            return key
        if len(self._jobs) >= MAX_JOB_LABELS:
            return OTHER, OTHER
        self._jobs.add(key)
        return key

    def run_started(self, run: Run) -> None:
        """A run went pending → running."""
        start = run.assigned_at or utcnow()
        self.start_latency.labels(*self._job_labels(run)).observe(max(0.0, (start - run.created_at).total_seconds()))

    def run_finished(self, run: Run) -> None:
        """A run reached its final status."""
        self.finished.labels(run.status.value).inc()
        start = run.started_at or run.assigned_at
        if start is not None and run.completed_at is not None:
            seconds = max(0.0, (run.completed_at - start).total_seconds())
            self.duration.labels(*self._job_labels(run)).observe(seconds)

    def protocol_error(self, code: str) -> None:
        """A protocol error, sent or received."""
        self.protocol_errors.labels(code if code in KNOWN_ERRORS else OTHER).inc()

    async def render(self, master: Master) -> bytes:
        """Refresh the present-state gauges and return the text exposition."""
        sessions = list(master.sessions.values())
        ready = [session for session in sessions if session.ready]
        self.workers_connected.set(len(sessions))
        self.workers_active.set(len(ready))
        self.slots_busy.set(sum(session.load for session in sessions))
        self.slots_total.set(sum(session.worker.executor_limit for session in ready if session.worker is not None))
        try:
            pending = await master.storage.list_pending_runs()
        except Exception as exc:  # the database is down: keep the last values
            logger.warning("metrics: cannot count pending runs: %s", exc)
        else:
            self.pending_runs.set(len(pending))
            oldest = min((run.created_at for run in pending), default=None)
            self.pending_oldest_age.set((utcnow() - oldest).total_seconds() if oldest is not None else 0)
        return generate_latest(self.registry)
