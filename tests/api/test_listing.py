"""Listing runs page by page while new runs are triggered: no repeat, no skip."""

from __future__ import annotations

import asyncio

from tests.api.conftest import Api

RUNS = "/api/v1/projects/demo/runs"


async def _trigger(api: Api, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        response = await api.client.post("/api/v1/projects/demo/jobs/hello/runs", json={}, headers=api.auth("operator"))
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


async def test_cursor_is_stable_while_runs_are_triggered(api: Api) -> None:
    """Pages visit exactly the runs that existed at the first page, newest first, while others land."""
    existing = await _trigger(api, 12)
    seen: list[str] = []
    added: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        page, more = await asyncio.gather(
            api.client.get(RUNS, params=params, headers=api.auth("viewer")), _trigger(api, 2)
        )
        assert page.status_code == 200, page.text
        added += more
        body = page.json()
        seen += [run["id"] for run in body["items"] if run["id"] not in added]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(existing))
    first = (await api.client.get(RUNS, params={"limit": 500}, headers=api.auth("viewer"))).json()["items"]
    listed = [run["id"] for run in first]
    assert len(listed) == len(set(listed)) and set(listed) == set(existing + added)
