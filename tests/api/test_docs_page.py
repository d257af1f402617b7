"""The API docs pages work offline: Swagger UI and ReDoc load every asset from the api itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.api.conftest import SECRET
from tests.api.recording_master import RecordingMaster
from tests.stack import admin
from tests.support import Service, free_port
from tests.web.ui_support import CHROMIUM_ARGS, chromium_or_skip, screenshot


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real podium-api on SQLite (a recording master behind it); yields its /api/v1 URL."""
    directory = tmp_path_factory.mktemp("docs")
    database_url = f"sqlite+aiosqlite:///{directory / 'podium.db'}"
    admin(database_url, "migrate")
    master = RecordingMaster(SECRET).start()
    port = free_port()
    argv = ["podium-api", "--port", str(port), "--database-url", database_url, "--log-dir", str(directory / "logs"),
            "--master-url", master.url, "--control-secret", SECRET]  # fmt: skip
    service = Service("api", argv, env={"PODIUM_API_EVENTS_FALLBACK": "1"}, output_dir=directory).start()
    url = f"http://127.0.0.1:{port}/api/v1"
    try:
        service.wait_http(f"{url}/health", timeout=90)
        yield url
    finally:
        assert service.stop() == 0, service.output
        master.stop()


def test_pages_name_only_local_assets_and_the_assets_are_served(api_url: str) -> None:
    """Both pages refer to /api/v1/docs/assets/ only; each asset answers with its type; others are 404 problems."""
    with httpx.Client(base_url=api_url, timeout=30) as client:
        for page in ("/docs", "/redoc"):
            html = client.get(page)
            assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
            assert "http" not in html.text.replace("http-equiv", ""), html.text  # no absolute URL: no CDN
        for name, kind in [("swagger-ui-bundle.js", "text/javascript"), ("swagger-init.js", "text/javascript"),
                           ("swagger-ui.css", "text/css"), ("redoc.standalone.js", "text/javascript"),
                           ("favicon.png", "image/png")]:  # fmt: skip
            answer = client.get(f"/docs/assets/{name}")
            assert answer.status_code == 200 and answer.headers["content-type"].startswith(kind), name
            assert answer.content and "max-age" in answer.headers["cache-control"], name
        for name in ("nothing.js", "..%2F..%2Fapp.py", "%2Fetc%2Fpasswd"):
            missing = client.get(f"/docs/assets/{name}")
            assert missing.status_code == 404, name
            assert missing.headers["content-type"] == "application/problem+json", name


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(180)
def test_swagger_ui_and_redoc_list_the_operations_with_outside_requests_blocked(api_url: str) -> None:
    """In Chromium, with every request outside 127.0.0.1 refused, both pages show every operation."""
    playwright_sync = pytest.importorskip("playwright.sync_api")
    operations = [
        spec
        for item in httpx.get(f"{api_url}/openapi.json", timeout=30).json()["paths"].values()
        for spec in item.values()
    ]
    blocked: list[str] = []

    def only_loopback(route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_or_skip(), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.route("**/*", only_loopback)
            page = context.new_page()
            page.goto(f"{api_url}/docs")
            # Swagger UI shows each operation's id (displayOperationId) under each of its tags.
            ids = page.locator(".opblock-summary-operation-id")
            playwright_sync.expect(ids.filter(has_text=operations[-1]["operationId"]).first).to_be_visible(
                timeout=30_000
            )
            assert set(ids.all_inner_texts()) == {spec["operationId"] for spec in operations}
            playwright_sync.expect(page.get_by_text("Podium API").first).to_be_visible()
            screenshot(page, "api-docs-swagger")
            page.goto(f"{api_url}/redoc")
            # ReDoc lists each operation's summary in its menu; check the first and the last.
            for spec in (operations[0], operations[-1]):
                playwright_sync.expect(
                    page.get_by_role("menuitem").filter(has_text=spec["summary"]).first
                ).to_be_attached(timeout=30_000)
            screenshot(page, "api-docs-redoc")
        finally:
            browser.close()
    assert not blocked, f"the docs pages requested outside 127.0.0.1: {blocked}"


def test_fastapi_offline_assets_exist() -> None:
    """The package that ships the assets is installed with them (a broken upgrade fails here, not in a browser)."""
    from podium_api.docs import ASSETS

    for name, (path, _) in ASSETS.items():
        assert Path(path).is_file() and Path(path).stat().st_size > 0, name
