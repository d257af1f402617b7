"""Fixtures for the web service tests: a real upstream server and a real podium-web in front."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Service, free_port, python_module

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A small real HTTP server standing in for the api (one per module); yields its base URL."""
    tmp_path = tmp_path_factory.mktemp("upstream")
    port = free_port()
    argv = python_module("uvicorn", "tests.web.upstream:app", "--port", str(port), "--log-level", "warning")
    service = Service("upstream", argv, output_dir=tmp_path, cwd=REPOSITORY).start()
    url = f"http://127.0.0.1:{port}"
    service.wait_http(f"{url}/api/stats")
    yield url
    service.stop()


def start_web(tmp_path: Path, api_url: str) -> tuple[Service, str]:
    """Start `python -m podium_web` in front of `api_url`; return it and its base URL."""
    port = free_port()
    argv = python_module("podium_web", "--port", str(port), "--api-url", api_url)
    service = Service("web", argv, output_dir=tmp_path, cwd=REPOSITORY).start()
    url = f"http://127.0.0.1:{port}"
    service.wait_http(f"{url}/health")
    return service, url


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, upstream: str) -> Iterator[str]:
    """A real podium-web process forwarding to the upstream server (one per module); yields its base URL."""
    service, url = start_web(tmp_path_factory.mktemp("web"), upstream)
    yield url
    assert service.stop() == 0, service.output
