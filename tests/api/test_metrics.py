"""`GET /api/v1/metrics`: Prometheus text that parses and moves as runs go through."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from podium_api.app import create_app
from podium_model import RunStatus
from tests.api.conftest import Api, serve

METRICS = "/api/v1/metrics"


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a metrics page, by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def _scrape(api: Api, who: str = "auditor") -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await api.client.get(METRICS, headers=api.auth(who))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return _samples(response.text)


def _runs(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], status: str) -> float:
    return samples[("podium_runs", (("status", status),))]


async def test_metrics_parse_and_follow_a_run(api: Api) -> None:
    """Runs by status move from pending to running to none; the trigger's latency is observed."""
    before = await _scrape(api)
    trigger = await api.client.post("/api/v1/projects/demo/jobs/hello/runs", json={}, headers=api.auth("operator"))
    assert trigger.status_code == 201
    run_id = trigger.json()["id"]
    pending = await _scrape(api, "admin")
    assert _runs(pending, "pending") == _runs(before, "pending") + 1
    await api.storage.transition_run(run_id, [RunStatus.pending], RunStatus.running)
    running = await _scrape(api)
    assert (_runs(running, "pending"), _runs(running, "running")) == (_runs(before, "pending"), 1)
    await api.storage.transition_run(run_id, [RunStatus.running], RunStatus.succeeded)
    done = await _scrape(api)
    assert _runs(done, "running") == 0
    route = "/api/v1/projects/{project}/jobs/{job}/runs"
    count = ("podium_api_request_duration_seconds_count", (("method", "POST"), ("route", route), ("status", "2xx")))
    assert done[count] == 1
    assert ("podium_api_master_feed_connected", ()) in done


async def test_metrics_need_the_metrics_permission(api: Api) -> None:
    """Viewers and operators are refused; anonymous callers get 401."""
    assert (await api.client.get(METRICS, headers=api.auth("viewer"))).status_code == 403
    assert (await api.client.get(METRICS, headers=api.auth("operator"))).status_code == 403
    assert (await api.client.get(METRICS)).status_code == 401


async def test_scraper_token_reads_metrics_only(api: Api) -> None:
    """The configured scraper token reads the metrics and nothing else."""
    settings = api.settings.model_copy(update={"metrics_token": SecretStr("scrape-me-please")})
    async with serve(create_app(settings)) as client:
        scraper = {"Authorization": "Bearer scrape-me-please"}
        assert (await client.get(METRICS, headers=scraper)).status_code == 200
        assert (await client.get("/api/v1/projects", headers=scraper)).status_code == 401
        wrong = await client.get(METRICS, headers={"Authorization": "Bearer scrape-me-not"})
        assert wrong.status_code == 401
