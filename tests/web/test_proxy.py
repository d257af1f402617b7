"""podium-web as a real process in front of a real upstream: page, forwarding, streaming."""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import free_port, python_module, wait_until
from tests.web.conftest import start_web

CHUNK = bytes(range(256)) * 256


def test_serves_the_page_without_external_resources(web: str) -> None:
    """GET / answers the single-page app, which loads nothing from elsewhere."""
    response = httpx.get(f"{web}/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<title>Podium</title>" in response.text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", response.text)


def test_a_cookie_set_for_one_browser_never_goes_with_another(web: str) -> None:
    """The api's Set-Cookie reaches its browser only: the next request of a browser without cookies has none."""
    first = httpx.get(f"{web}/api/v1/me")
    assert first.headers["set-cookie"] == "a=1"
    other = httpx.get(f"{web}/api/v1/me")
    assert "cookie" not in dict(other.json()["headers"])
    mine = httpx.get(f"{web}/api/v1/me", headers={"Cookie": "podium_session=s"})
    assert dict(mine.json()["headers"])["cookie"] == "podium_session=s"


def test_forwards_method_path_query_headers_and_body(web: str) -> None:
    """A request reaches the api unchanged and its answer comes back unchanged."""
    response = httpx.post(
        f"{web}/api/v1/projects/a%2Fb/runs?x=1&x=2&status=201",
        content=b'{"parameters": {"name": "you"}}',
        headers={"Content-Type": "application/json", "Authorization": "Bearer abc", "X-Custom": "1"},
    )
    assert response.status_code == 201
    assert response.headers["x-upstream"] == "yes"
    assert response.headers["set-cookie"] == "a=1"
    echoed = response.json()
    assert echoed["method"] == "POST"
    assert echoed["raw_path"] == "/api/v1/projects/a%2Fb/runs"
    assert echoed["query"] == "x=1&x=2&status=201"
    assert echoed["body"] == '{"parameters": {"name": "you"}}'
    headers = dict(echoed["headers"])
    assert headers["authorization"] == "Bearer abc"
    assert headers["x-custom"] == "1"
    assert headers["content-type"] == "application/json"
    assert headers["x-forwarded-host"] == web.removeprefix("http://")
    assert headers["x-forwarded-for"] == "127.0.0.1"


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_forwards_every_method(web: str, method: str) -> None:
    """Each HTTP method goes through as it is."""
    response = httpx.request(method, f"{web}/api/v1/thing", content=b"x" if method in {"PUT", "PATCH"} else None)
    assert response.status_code == 200
    assert response.json()["method"] == method


def test_head_keeps_the_length_without_a_body(web: str) -> None:
    """HEAD answers the api's headers and no body."""
    response = httpx.head(f"{web}/api/v1/thing")
    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) > 0


def test_streams_server_sent_events_as_they_come(web: str, upstream: str) -> None:
    """The first event arrives before the api has produced the rest: nothing is buffered."""
    with httpx.stream("GET", f"{web}/api/v1/events", timeout=10) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        assert next(lines) == "data: first"
        assert httpx.post(f"{upstream}/api/release").status_code == 204
        rest = [line for line in lines if line]
    assert rest == ["data: 0", "data: 1", "data: 2"]


def test_streams_a_large_download_intact(web: str) -> None:
    """A 64 MiB answer comes through byte for byte."""
    count = 1024
    digest = hashlib.sha256()
    size = 0
    with httpx.stream("GET", f"{web}/api/large", params={"count": count}, timeout=30) as response:
        for chunk in response.iter_raw():
            digest.update(chunk)
            size += len(chunk)
    assert size == count * len(CHUNK)
    assert digest.hexdigest() == hashlib.sha256(CHUNK * count).hexdigest()


def test_streams_a_large_upload_intact(web: str) -> None:
    """A 32 MiB chunked request body reaches the api byte for byte."""
    count = 512

    def chunks() -> Iterator[bytes]:
        for _ in range(count):
            yield CHUNK

    response = httpx.post(f"{web}/api/upload", content=chunks(), timeout=30)
    assert response.status_code == 200
    assert response.json() == {"size": count * len(CHUNK), "sha256": hashlib.sha256(CHUNK * count).hexdigest()}


def test_client_going_away_closes_the_upstream_stream(web: str, upstream: str) -> None:
    """When the browser leaves a live stream, the stream to the api is closed too."""
    with httpx.stream("GET", f"{web}/api/endless", timeout=10) as response:
        assert next(response.iter_lines()) == "tick"

    def closed() -> bool:
        return bool(httpx.get(f"{upstream}/api/stats").json()["closed_streams"] >= 1)

    wait_until(closed, 10, "the upstream stream to close")


def test_api_down_answers_502_problem(tmp_path: Path) -> None:
    """With nothing listening at the api URL, /api/ answers a 502 problem and the page still works."""
    service, url = start_web(tmp_path, f"http://127.0.0.1:{free_port()}")
    try:
        response = httpx.post(f"{url}/api/v1/me/login", json={"user": "a", "password": "b"})
        assert response.status_code == 502
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["status"] == 502
        assert problem["title"] == "API unavailable"
        assert problem["type"].endswith("/api-unavailable")
        assert httpx.get(f"{url}/").status_code == 200
    finally:
        assert service.stop() == 0, service.output


def test_help_lists_flags_and_variables() -> None:
    """`podium-web --help` names each flag and its environment variable."""
    result = subprocess.run(python_module("podium_web", "--help"), capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    for word in ("--host", "--port", "--api-url", "PODIUM_WEB_HOST", "PODIUM_WEB_PORT", "PODIUM_API_URL"):
        assert word in result.stdout


def test_environment_configures_the_service(tmp_path: Path, upstream: str) -> None:
    """PODIUM_WEB_PORT and PODIUM_API_URL work without flags."""
    from tests.support import Service

    port = free_port()
    env = {"PODIUM_WEB_PORT": str(port), "PODIUM_API_URL": upstream}
    service = Service("web-env", python_module("podium_web"), env=env, output_dir=tmp_path).start()
    try:
        service.wait_http(f"http://127.0.0.1:{port}/health")
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/x").json()["raw_path"] == "/api/v1/x"
    finally:
        assert service.stop() == 0, service.output
