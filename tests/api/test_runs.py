"""Triggering runs, listing them with a cursor, logs, results, archives, cancel and abort."""

from __future__ import annotations

import io
import json
import tarfile

from podium_model import RunSource, RunStatus, RunUpdate
from tests.api.conftest import Api

RUNS = "/api/v1/projects/demo/runs"


async def test_trigger_fills_defaults_and_records_the_user(api: Api) -> None:
    """A trigger answers 201 with a pending run whose defaults are filled in."""
    response = await api.client.post(
        "/api/v1/projects/demo/jobs/hello/runs", json={"parameters": {}}, headers=api.auth("operator")
    )
    assert response.status_code == 201, response.text
    run = response.json()
    assert run["status"] == "pending"
    assert run["parameters"] == {"name": "world"}
    assert run["source"]["user"] == "operator"
    fetched = await api.client.get(f"{RUNS}/{run['id']}", headers=api.auth("viewer"))
    assert fetched.status_code == 200 and fetched.json()["id"] == run["id"]


async def test_trigger_validates_parameters(api: Api) -> None:
    """Unknown keys and missing required parameters are 422 problems naming each key."""
    url = "/api/v1/projects/demo/jobs/strict/runs"
    missing = await api.client.post(url, json={"parameters": {}}, headers=api.auth("admin"))
    assert missing.status_code == 422
    assert [e["loc"][-1] for e in missing.json()["errors"]] == ["target"]
    unknown = await api.client.post(url, json={"parameters": {"target": "x", "bogus": "1"}}, headers=api.auth("admin"))
    assert unknown.status_code == 422
    assert "bogus" in unknown.json()["detail"]
    ok = await api.client.post(url, json={"parameters": {"target": "x"}}, headers=api.auth("admin"))
    assert ok.status_code == 201
    assert ok.json()["parameters"] == {"target": "x", "mode": ""}


async def test_trigger_of_a_disabled_job_is_409(api: Api) -> None:
    """A disabled job cannot be triggered; enabling it makes the trigger work."""
    url = "/api/v1/projects/demo/jobs/off/runs"
    assert (await api.client.post(url, json={}, headers=api.auth("admin"))).status_code == 409
    enabled = await api.client.post("/api/v1/projects/demo/jobs/off/enable", headers=api.auth("operator"))
    assert enabled.status_code == 200 and enabled.json()["is_enabled"] is True
    assert (await api.client.post(url, json={}, headers=api.auth("admin"))).status_code == 201


async def test_list_runs_pages_with_a_cursor_newest_first(api: Api) -> None:
    """Paging with next_cursor visits every run once, newest first; filters apply."""
    created = [
        (await api.storage.create_run("demo", "hello" if i % 2 else "off", {}, RunSource())).id for i in range(7)
    ]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await api.client.get(RUNS, params=params, headers=api.auth("viewer"))).json()
        seen += [run["id"] for run in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(created))
    hello = (await api.client.get(RUNS, params={"job": "hello"}, headers=api.auth("viewer"))).json()
    assert {run["job"] for run in hello["items"]} == {"hello"} and len(hello["items"]) == 3
    bad = await api.client.get(RUNS, params={"cursor": "garbage"}, headers=api.auth("viewer"))
    assert bad.status_code == 422
    too_many = await api.client.get(RUNS, params={"limit": 100000}, headers=api.auth("viewer"))
    assert too_many.status_code == 422


async def test_run_of_another_project_is_404(api: Api) -> None:
    """A run is only addressed under its own project."""
    await api.storage.put_project("other")
    run = await api.storage.create_run("demo", "hello", {}, RunSource())
    response = await api.client.get(f"/api/v1/projects/other/runs/{run.id}", headers=api.auth("viewer"))
    assert response.status_code == 404
    assert (await api.client.get(f"{RUNS}/not-a-run", headers=api.auth("viewer"))).status_code == 404


async def test_log_reads_from_an_offset(api: Api) -> None:
    """The log answers text/plain bytes from the offset, and the next offset in a header."""
    run = await api.storage.create_run("demo", "hello", {}, RunSource())
    data = "héllo\nworld\n".encode()
    await api.logs.append("demo", run.id, 0, data)
    url = f"{RUNS}/{run.id}/log"
    whole = await api.client.get(url, headers=api.auth("viewer"))
    assert whole.status_code == 200
    assert whole.headers["content-type"] == "text/plain; charset=utf-8"
    assert whole.content == data
    tail = await api.client.get(url, params={"offset": 7}, headers=api.auth("viewer"))
    assert tail.content == data[7:]
    assert tail.headers["X-Podium-Log-Offset"] == str(len(data))
    past = await api.client.get(url, params={"offset": 1000}, headers=api.auth("viewer"))
    assert past.status_code == 200 and past.content == b""
    assert (await api.client.get(url, params={"offset": -1}, headers=api.auth("viewer"))).status_code == 422


async def test_results_and_archive(api: Api) -> None:
    """Results answer the run's JSON; the archive holds run, log and results."""
    run = await api.storage.create_run("demo", "hello", {}, RunSource())
    await api.storage.update_run(run.id, RunUpdate(results={"greeted": True}))
    await api.logs.append("demo", run.id, 0, b"log bytes\n")
    results = await api.client.get(f"{RUNS}/{run.id}/results", headers=api.auth("viewer"))
    assert results.json() == {"greeted": True}
    archive = await api.client.get(f"{RUNS}/{run.id}/archive", headers=api.auth("viewer"))
    assert archive.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(archive.content), mode="r:gz") as tar:
        names = sorted(member.name for member in tar.getmembers())
        assert names == [f"{run.id}/{n}" for n in ("log.txt", "results.json", "run.json")]
        log = tar.extractfile(f"{run.id}/log.txt")
        assert log is not None and log.read() == b"log bytes\n"
        meta = tar.extractfile(f"{run.id}/run.json")
        assert meta is not None and json.load(meta)["id"] == run.id


async def test_cancel_only_pending_runs(api: Api) -> None:
    """Cancel flags a pending run for the master (away here: 202); a run not pending answers 409."""
    run = await api.storage.create_run("demo", "hello", {}, RunSource())
    url = f"{RUNS}/{run.id}/cancel"
    assert (await api.client.post(url, headers=api.auth("viewer"))).status_code == 403
    first = await api.client.post(url, headers=api.auth("operator"))
    assert first.status_code == 202, first.text
    assert first.json()["status"] == "pending"
    assert first.json()["should_cancel"] is True
    assert first.json()["reason"] == "cancelled by operator"
    await api.storage.transition_run(run.id, [RunStatus.pending], RunStatus.cancelled)
    again = await api.client.post(url, headers=api.auth("operator"))
    assert again.status_code == 409
    assert again.json()["type"].endswith("/invalid-transition")
    running = await api.storage.create_run("demo", "hello", {}, RunSource())
    await api.storage.transition_run(running.id, [RunStatus.pending], RunStatus.running)
    assert (await api.client.post(f"{RUNS}/{running.id}/cancel", headers=api.auth("operator"))).status_code == 409


async def test_abort_only_running_runs(api: Api) -> None:
    """Abort sets should_abort on a running run; a pending run answers 409."""
    run = await api.storage.create_run("demo", "hello", {}, RunSource())
    assert (await api.client.post(f"{RUNS}/{run.id}/abort", headers=api.auth("operator"))).status_code == 409
    await api.storage.transition_run(run.id, [RunStatus.pending], RunStatus.running)
    response = await api.client.post(f"{RUNS}/{run.id}/abort", headers=api.auth("operator"))
    assert response.status_code == 200
    assert response.json()["should_abort"] is True


async def test_list_pages_cut_long_parameters_and_name_them(api: Api) -> None:
    """A value over 1 KiB is cut in a page (on a character boundary) and named; the run's document has it whole."""
    value = "é" * 3000  # 6,000 UTF-8 bytes; cut inside a character must not split it
    run = await api.storage.create_run("demo", "hello", {"name": value}, RunSource())
    short = await api.storage.create_run("demo", "hello", {"name": "x"}, RunSource())
    page = (await api.client.get(RUNS, headers=api.auth("viewer"))).json()
    listed = {item["id"]: item for item in page["items"]}
    assert listed[run.id]["parameters"]["name"] == "é" * 512
    assert listed[run.id]["truncated_parameters"] == ["name"]
    assert listed[short.id]["parameters"] == {"name": "x"} and listed[short.id]["truncated_parameters"] is None
    whole = (await api.client.get(f"{RUNS}/{run.id}", headers=api.auth("viewer"))).json()
    assert whole["parameters"]["name"] == value and whole["truncated_parameters"] is None


async def test_a_long_log_read_streams_exactly_the_bytes_asked(api: Api) -> None:
    """A read longer than a chunk streams: the bytes from `offset`, at most `limit`, and the next offset."""
    run = await api.storage.create_run("demo", "hello", {}, RunSource())
    data = bytes(range(256)) * (3 * 4096 + 7)  # a little over 3 MiB, every byte value
    await api.logs.append("demo", run.id, 0, data)
    url, viewer = f"{RUNS}/{run.id}/log", api.auth("viewer")
    whole = await api.client.get(url, params={"offset": 100}, headers=viewer)
    assert whole.content == data[100:] and whole.headers["x-podium-log-offset"] == str(len(data))
    part = await api.client.get(url, params={"offset": 5, "limit": 2 * 1024 * 1024 + 3}, headers=viewer)
    assert part.content == data[5 : 5 + 2 * 1024 * 1024 + 3]
    assert part.headers["x-podium-log-offset"] == str(5 + 2 * 1024 * 1024 + 3)
    past = await api.client.get(url, params={"offset": len(data) + 10}, headers=viewer)
    assert past.content == b"" and past.headers["x-podium-log-offset"] == str(len(data) + 10)
