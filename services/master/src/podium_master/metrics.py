"""The master's Prometheus metrics, served at `GET /metrics`.

Counters and histograms are moved where things happen (the run lifecycle, the worker
sessions); gauges that describe the present (pending runs, connected workers) are computed
when scraped. Label values stay bounded: statuses and protocol error codes are fixed sets,
and project/job pairs beyond `MAX_JOB_LABELS` are counted under `project="other"`.

Worker health comes from the latest heartbeat of each connected worker, kept in the master's
memory (not in the database): fleet-wide gauges without labels (log sync lag, draining
workers), and per-worker gauges labelled `worker` for the connected workers only (series
vanish when a worker disconnects), at most `MAX_WORKER_LABELS` of them.

`podium_master_info{master="<id>"} 1` names the master scraped (its `--master-id`); with
several masters, the gauges read from the database (pending runs, the oldest one's age) are the
same on each, the others count what that master did or holds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from podium_model import Run, utcnow
from podium_model.messages import Heartbeat
from podium_model.workers import Worker
from podium_storage.interface import Storage

logger = logging.getLogger(__name__)

MAX_JOB_LABELS = 1000
MAX_WORKER_LABELS = 1000
OTHER = "other"
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
DURATION_BUCKETS = (0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 21600, 86400)
KNOWN_ERRORS = frozenset(
    {"malformed", "version", "too-big", "unknown-request", "unknown-run", "bad-status", "timeout", "worker"}
)


class WorkerView(Protocol):
    """What the metrics read of one worker connection (`session.WorkerSession`)."""

    @property
    def worker_id(self) -> str:
        """The worker's id."""

    @property
    def worker(self) -> Worker | None:
        """Its stored settings, once reconciled."""

    @property
    def health(self) -> Heartbeat | None:
        """Its latest heartbeat."""

    @property
    def health_at(self) -> float | None:
        """When that heartbeat came (`time.monotonic`)."""

    @property
    def ready(self) -> bool:
        """True while it takes runs."""

    @property
    def draining(self) -> bool:
        """True once it said it takes no new run."""

    @property
    def load(self) -> int:
        """How many runs it holds."""

    def log_sync_lag(self) -> int:
        """Log bytes it holds that the master does not."""


class MasterMetrics:
    """Every metric of one master, in a registry of its own.

    Args:
        master_id: the master's `--master-id`, the `master` label of `podium_master_info`.
    """

    def __init__(self, master_id: str = "") -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # Which master a scraped target is: one constant series to join on (`group_left(master)`),
        # rather than a label repeated on every series (see docs/operations.md, Several masters).
        self.info = Gauge("podium_master_info", "1, labelled with this master's id", ["master"], registry=r)
        self.info.labels(master_id).set(1)
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
        self.runs_lost = Counter(
            "podium_master_runs_lost_total", "Running runs ended because their worker stayed away", registry=r
        )
        self.runs_undeliverable = Counter(
            "podium_master_runs_undeliverable_total",
            "Runs ended because their execute could not be delivered (too large, or bounced too often)",
            registry=r,
        )
        self.log_disk_full = Gauge(
            "podium_master_log_disk_full", "1 while the log store refuses bytes (its disk is full)", registry=r
        )
        self.log_chunks_refused = Counter(
            "podium_master_log_chunks_refused_total", "Log chunks not stored because the log store was full", registry=r
        )
        self.leader = Gauge(
            "podium_master_leader", "1 while this master leads (it runs the schedules, retention)", registry=r
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
        self.claims_lost = Counter(
            "podium_master_claims_lost_total",
            "Runs placed by this master whose claim found them moved (another master took them, or they ended)",
            registry=r,
        )
        self.log_sync_lag = Gauge(
            "podium_log_sync_lag_bytes",
            "Log bytes written on workers (per their last heartbeat) that the master does not hold yet",
            registry=r,
        )
        self.workers_draining = Gauge(
            "podium_master_workers_draining", "Connected workers that take no new run (draining)", registry=r
        )
        worker = ["worker"]
        self.worker_disk_free = Gauge(
            "podium_worker_disk_free_bytes", "Free bytes on the disk of the worker's home", worker, registry=r
        )
        self.worker_load = Gauge(
            "podium_worker_load1", "1-minute load average of the worker's host", worker, registry=r
        )
        self.worker_running = Gauge(
            "podium_worker_executors_running", "Runs executing on the worker", worker, registry=r
        )
        self.worker_limit = Gauge("podium_worker_executor_limit", "Executor limit of the worker", worker, registry=r)
        self.worker_draining = Gauge("podium_worker_draining", "1 while the worker drains", worker, registry=r)
        self.worker_lag = Gauge(
            "podium_worker_log_sync_lag_bytes", "Log bytes on the worker not yet held by the master", worker, registry=r
        )
        self.worker_heartbeat_age = Gauge(
            "podium_worker_heartbeat_age_seconds", "Seconds since the worker's last heartbeat", worker, registry=r
        )
        self._per_worker = (
            self.worker_disk_free,
            self.worker_load,
            self.worker_running,
            self.worker_limit,
            self.worker_draining,
            self.worker_lag,
            self.worker_heartbeat_age,
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

    def _worker_health(self, sessions: list[WorkerView]) -> None:
        """Refresh the gauges read from the workers' heartbeats."""
        self.log_sync_lag.set(sum(session.log_sync_lag() for session in sessions))
        self.workers_draining.set(sum(1 for session in sessions if session.draining))
        for gauge in self._per_worker:
            gauge.clear()  # a disconnected worker's series go away
        now = time.monotonic()
        labelled = sorted(sessions, key=lambda session: session.worker_id)[:MAX_WORKER_LABELS]
        for session in labelled:
            health, worker_id = session.health, session.worker_id
            if health is None or session.health_at is None:
                continue
            if health.disk_free_bytes is not None:
                self.worker_disk_free.labels(worker_id).set(health.disk_free_bytes)
            if health.load_average:
                self.worker_load.labels(worker_id).set(health.load_average[0])
            limit = health.executor_limit
            if limit is None and session.worker is not None:
                limit = session.worker.executor_limit  # an older worker: its description says
            if limit is not None:
                self.worker_limit.labels(worker_id).set(limit)
            self.worker_running.labels(worker_id).set(len(health.running))
            self.worker_draining.labels(worker_id).set(1 if health.draining else 0)
            self.worker_lag.labels(worker_id).set(session.log_sync_lag())
            self.worker_heartbeat_age.labels(worker_id).set(round(now - session.health_at, 3))

    async def render(self, connected: Collection[WorkerView], storage: Storage) -> bytes:
        """Refresh the present-state gauges from the `connected` workers and `storage`; the text exposition."""
        sessions = list(connected)
        ready = [session for session in sessions if session.ready]
        self.workers_connected.set(len(sessions))
        self.workers_active.set(len(ready))
        self.slots_busy.set(sum(session.load for session in sessions))
        self.slots_total.set(sum(session.worker.executor_limit for session in ready if session.worker is not None))
        self._worker_health(sessions)
        try:
            pending = await storage.list_pending_runs()
        except Exception as exc:  # the database is down: keep the last values
            logger.warning("metrics: cannot count pending runs: %s", exc)
        else:
            self.pending_runs.set(len(pending))
            oldest = min((run.created_at for run in pending), default=None)
            self.pending_oldest_age.set((utcnow() - oldest).total_seconds() if oldest is not None else 0)
        return generate_latest(self.registry)
