"""`GET /metrics` of a real master: Prometheus text that moves as runs go through."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.databases import sqlite_url
from tests.master.conftest import start_master
from tests.operations.helpers import configured_stack, create_run, start_worker, wait_final
from tests.support import wait_until


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the master's metrics, by name and labels."""
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metrics_move_as_runs_go_through(tmp_path: Path) -> None:
    """Runs finished, latency and duration histograms, log bytes and workers all show up."""
    stack = configured_stack(tmp_path, sqlite_url(tmp_path))
    try:
        start_master(stack)
        before = scrape(stack.master_url)
        assert before[("podium_master_workers_connected", ())] == 0
        assert before[("podium_master_pending_runs", ())] == 0
        stack.start_worker("w1", 2)
        wait_until(lambda: scrape(stack.master_url)[("podium_master_workers_active", ())] == 1, 60, "worker active")
        for _ in range(2):
            run = create_run(stack, "hello")
            assert wait_final(stack, run.id).status.value == "succeeded"
        after = scrape(stack.master_url)
        assert after[("podium_runs_finished_total", (("status", "succeeded"),))] == 2
        job = (("job", "hello"), ("project", "ops"))
        assert after[("podium_run_start_latency_seconds_count", job)] == 2
        assert after[("podium_run_duration_seconds_count", job)] == 2
        assert after[("podium_master_log_bytes_received_total", ())] >= len(b"hello\n") * 2
        assert after[("podium_master_workers_connected", ())] == 1
        assert after[("podium_master_worker_slots", ())] == 2
        assert after[("podium_master_pending_runs", ())] == 0
    finally:
        stack.stop()


def test_worker_health_reaches_the_master_metrics(tmp_path: Path) -> None:
    """Heartbeats carry each worker's health to the master: per-worker gauges while it is connected,
    the fleet's log sync lag and the count of draining workers."""
    stack = configured_stack(tmp_path, sqlite_url(tmp_path))
    w1 = (("worker", "w1"),)
    try:
        start_master(stack)
        worker = start_worker(stack, "w1", "--heartbeat-interval", "0.2")
        wait_until(lambda: scrape(stack.master_url).get(("podium_worker_executor_limit", w1)) == 2, 60, "health")
        idle = scrape(stack.master_url)
        assert idle[("podium_worker_disk_free_bytes", w1)] > 0
        assert ("podium_worker_load1", w1) in idle
        assert idle[("podium_worker_executors_running", w1)] == 0
        assert idle[("podium_worker_draining", w1)] == 0
        assert idle[("podium_worker_log_sync_lag_bytes", w1)] == 0
        assert 0 <= idle[("podium_worker_heartbeat_age_seconds", w1)] < 30
        assert idle[("podium_log_sync_lag_bytes", ())] == 0
        assert idle[("podium_master_workers_draining", ())] == 0

        run = create_run(stack, "lines", count="30")
        wait_until(
            lambda: scrape(stack.master_url).get(("podium_worker_executors_running", w1)) == 1, 60, "run reported"
        )
        assert wait_final(stack, run.id).status.value == "succeeded"
        wait_until(lambda: scrape(stack.master_url).get(("podium_worker_executors_running", w1)) == 0, 60, "run gone")
        assert scrape(stack.master_url)[("podium_log_sync_lag_bytes", ())] == 0

        worker.stop()
        wait_until(lambda: ("podium_worker_disk_free_bytes", w1) not in scrape(stack.master_url), 60, "series gone")
    finally:
        stack.stop()
