"""Health, login, authentication and the problem+json error answers."""

from __future__ import annotations

import base64
from pathlib import Path

from podium_api.app import create_app
from podium_api.settings import ApiSettings
from tests.api.conftest import ADMIN_PASSWORD, Api, serve
from tests.support import free_port

PROBLEM = "application/problem+json"


async def test_health_reports_database_and_master(api: Api) -> None:
    """Health is public and answers 200, degraded while the master is unreachable."""
    response = await api.client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok"
    assert body["master"] == "unreachable"
    assert body["status"] == "degraded"


async def test_login_gives_a_working_token(api: Api) -> None:
    """A right password gives a token that authenticates as its user until logout."""
    response = await api.client.post("/api/v1/me/login", json={"user": "admin", "password": ADMIN_PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["id"] == "admin"
    assert body["expires_at"]
    headers = {"Authorization": f"Bearer {body['token']}"}
    me = await api.client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200 and me.json()["id"] == "admin"
    assert (await api.client.post("/api/v1/me/logout", headers=headers)).status_code == 204
    after = await api.client.get("/api/v1/me", headers=headers)
    assert after.status_code == 401


async def test_login_same_answer_for_unknown_user_and_wrong_password(api: Api) -> None:
    """Unknown user and wrong password get the identical 401 problem."""
    wrong = await api.client.post("/api/v1/me/login", json={"user": "admin", "password": "nope"})
    unknown = await api.client.post("/api/v1/me/login", json={"user": "ghost", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.headers["content-type"] == unknown.headers["content-type"] == PROBLEM
    assert wrong.json() == unknown.json()
    assert "WWW-Authenticate" in wrong.headers


async def test_missing_and_bad_tokens_are_401_problems(api: Api) -> None:
    """No token, an unknown token, a malformed header: 401 problem+json with WWW-Authenticate."""
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Weird x"}, {"Authorization": "Basic %%"}):
        response = await api.client.get("/api/v1/projects", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["status"] == 401
        assert "Bearer" in response.headers["WWW-Authenticate"]


async def test_basic_auth_with_user_and_token(api: Api) -> None:
    """HTTP Basic user:token works; a token presented under another user's name does not."""
    good = base64.b64encode(f"viewer:{api.tokens['viewer']}".encode()).decode()
    bad = base64.b64encode(f"admin:{api.tokens['viewer']}".encode()).decode()
    assert (await api.client.get("/api/v1/me", headers={"Authorization": f"Basic {good}"})).json()["id"] == "viewer"
    assert (await api.client.get("/api/v1/me", headers={"Authorization": f"Basic {bad}"})).status_code == 401


async def test_disabled_user_is_refused(api: Api) -> None:
    """Disabling a user makes their tokens answer 401."""
    response = await api.client.post("/api/v1/users/viewer/disable", headers=api.auth("admin"))
    assert response.status_code == 200, response.text
    assert (await api.client.get("/api/v1/me", headers=api.auth("viewer"))).status_code == 401


async def test_unknown_route_and_method_are_problems(api: Api) -> None:
    """Unknown routes get a 404 problem and wrong methods a 405 problem."""
    missing = await api.client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    wrong = await api.client.delete("/api/v1/health")
    assert wrong.status_code == 405 and wrong.headers["content-type"] == PROBLEM


async def test_unknown_project_and_job_are_404_problems(api: Api) -> None:
    """Unknown project or job: 404 problem+json, also on trigger."""
    headers = api.auth("admin")
    for path in ("/api/v1/projects/nope", "/api/v1/projects/nope/jobs", "/api/v1/projects/demo/jobs/nope"):
        response = await api.client.get(path, headers=headers)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == PROBLEM
    trigger = await api.client.post("/api/v1/projects/demo/jobs/nope/runs", json={}, headers=headers)
    assert trigger.status_code == 404
    assert "nope" in trigger.json()["detail"]


async def test_malformed_json_is_a_422_problem(api: Api) -> None:
    """A body that is not JSON, or of the wrong shape, gets a 422 problem with JSON-safe errors."""
    headers = {**api.auth("admin"), "Content-Type": "application/json"}
    for body in (b"{not json", b"[1, 2]", b'{"parameters": {"name": 3}}', b'{"parameters": [], "x": 1}'):
        response = await api.client.post("/api/v1/projects/demo/jobs/hello/runs", content=body, headers=headers)
        assert response.status_code == 422, body
        assert response.headers["content-type"] == PROBLEM
        assert isinstance(response.json()["errors"], list)
    login = await api.client.post("/api/v1/me/login", content=b"\xff\xfe", headers=headers)
    assert login.status_code == 422


async def test_apply_configuration_with_dry_run_and_yaml(api: Api) -> None:
    """An administrator applies YAML: dry-run lists the changes without making them; bad files are 422."""
    text = (
        "projects:\n  - id: second\n    jobs:\n      - id: one\n        definition: {type: job, commands: [[echo]]}\n"
    )
    headers = {**api.auth("admin"), "Content-Type": "application/yaml"}
    url = "/api/v1/admin/configuration"
    dry = await api.client.put(url, content=text, params={"dry_run": "true"}, headers=headers)
    assert dry.status_code == 200, dry.text
    assert dry.json()["dry_run"] is True
    assert {(c["kind"], c["id"]) for c in dry.json()["changes"]} >= {("job", "one")}
    assert await api.storage.get_project("second") is None
    applied = await api.client.put(url, content=text, headers=headers)
    assert applied.status_code == 200 and applied.json()["changes"]
    assert await api.storage.get_job("second", "one") is not None
    bad = await api.client.put(url, content="projects: [{id: x, jobs: [{id: y}]}]", headers=headers)
    assert bad.status_code == 422 and bad.json()["errors"]
    assert (await api.client.put(url, json={"projects": []}, headers=api.auth("operator"))).status_code == 403


async def test_oversized_body_is_a_413_problem(api: Api) -> None:
    """A body over the limit is refused with 413 before any route reads it."""
    body = b'{"parameters": {"name": "' + b"x" * (17 * 1024 * 1024) + b'"}}'
    response = await api.client.post(
        "/api/v1/projects/demo/jobs/hello/runs",
        content=body,
        headers={**api.auth("admin"), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM


async def test_hostile_path_values_are_404_not_500(api: Api) -> None:
    """NUL bytes, very long and odd identifiers in paths answer 404 (or 422), never 500."""
    headers = api.auth("admin")
    for value in ("%00", "a%00b", "x" * 300, "%C3%A9", "%FF"):
        for path in (
            f"/api/v1/projects/{value}",
            f"/api/v1/projects/demo/jobs/{value}",
            f"/api/v1/projects/demo/runs/{value}",
            f"/api/v1/projects/demo/runs/{value}/log",
            f"/api/v1/projects/demo/schedules/{value}",
            f"/api/v1/workers/{value}",
            f"/api/v1/users/{value}",
        ):
            response = await api.client.get(path, headers=headers)
            assert response.status_code in (404, 422), (path, response.status_code, response.text)


async def test_nul_characters_are_refused(api: Api) -> None:
    """NUL in a query or JSON body is a 422 problem, on SQLite and PostgreSQL alike."""
    headers = api.auth("admin")
    query = await api.client.get("/api/v1/projects/demo/runs", params={"job": "a\x00"}, headers=headers)
    assert query.status_code == 422
    body = await api.client.post(
        "/api/v1/projects/demo/jobs/hello/runs", json={"parameters": {"name": "a\x00b"}}, headers=headers
    )
    assert body.status_code == 422 and body.headers["content-type"] == PROBLEM
    assert (await api.client.post("/api/v1/me/login", json={"user": "a\x00", "password": "x"})).status_code == 422


async def test_database_down_is_503(tmp_path: Path) -> None:
    """With the database unreachable, health answers 503 and data routes a 503 problem."""
    settings = ApiSettings(
        database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nothing",
        log_dir=tmp_path / "logs",
        master_url=f"http://127.0.0.1:{free_port()}",
    )
    async with serve(create_app(settings)) as client:
        health = await client.get("/api/v1/health")
        assert health.status_code == 503
        assert health.json()["database"] == "unavailable"
        projects = await client.get("/api/v1/projects", headers={"Authorization": "Bearer whatever"})
        assert projects.status_code == 503
        assert projects.headers["content-type"] == PROBLEM
