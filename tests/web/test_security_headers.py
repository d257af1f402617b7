"""The web UI works under its content security policy: the real stack, podium-web in front, Chromium.

Every page of the UI is visited with a listener for `securitypolicyviolation` events installed
before any script runs; a single refused script, style, image or connection fails the test.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright import sync_api as playwright_sync
from playwright.sync_api import expect

from podium_model.security_headers import UI_POLICY
from tests.web.ui_support import CHROMIUM_ARGS, UiStack, chromium_or_skip, write_configuration

COMMON = {"x-frame-options": "DENY", "x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}
WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiStack]:
    """The whole stack on SQLite with the example project, podium-web in front."""
    chromium_or_skip()
    directory = tmp_path_factory.mktemp("csp-stack")
    config = write_configuration(directory / "podium.yaml", directory / "gate")
    running = UiStack(directory, f"sqlite+aiosqlite:///{directory / 'podium.db'}", config)
    try:
        running.start(workers=1)
        running.start_web()
        yield running
    finally:
        running.stop()


def test_pages_and_files_of_the_web_service_carry_the_headers(stack: UiStack) -> None:
    """The page and its assets carry the UI policy; answers forwarded from the api keep the api's own."""
    with httpx.Client(base_url=stack.web_url, timeout=30) as client:
        page = client.get("/")
        asset = next(part.split('"')[0] for part in page.text.split('src="')[1:])
        for answer in (page, client.get(asset)):
            assert answer.status_code == 200
            assert answer.headers["content-security-policy"] == UI_POLICY
            assert {k: answer.headers[k] for k in COMMON} == COMMON
        forwarded = client.get("/api/v1/health")
        assert forwarded.headers["content-security-policy"].startswith("default-src 'none'")


@pytest.mark.browser
@pytest.mark.timeout(240)
def test_the_ui_works_under_its_policy(stack: UiStack) -> None:
    """Login, dashboard, a job, a triggered run with its log and results, the other pages: no violation."""
    expect.set_options(timeout=20_000)
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_or_skip(), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(base_url=stack.web_url, viewport={"width": 1280, "height": 860})
            context.add_init_script(WATCH)
            page = context.new_page()
            violations: list[str] = []

            def collect() -> None:
                violations.extend(page.evaluate("window.__violations.splice(0)"))

            page.goto("/")
            page.get_by_label("User").fill("admin")
            page.get_by_label("Password").fill(stack.password)
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
            collect()
            run = stack.trigger("examples", "hello", name="policy")
            stack.wait_run("examples", run["id"])
            log = f"/#/projects/examples/runs/{run['id']}/log"
            pages = ["/#/projects/examples/jobs/hello", "/#/projects/examples/runs", log, "/#/workers", "/#/users",
                     "/#/me", "/#/projects/examples"]  # fmt: skip
            for path in pages:
                page.goto(path)
                shown = page.get_by_text("hello policy") if path == log else page.get_by_role("heading")
                expect(shown.first).to_be_visible()
                collect()
            page.goto(f"/#/projects/examples/runs/{run['id']}")
            expect(page.get_by_text("hello policy")).to_be_visible()
            collect()
            assert violations == [], violations
            # The watch itself works: an inline script, which the policy forbids, is reported.
            page.evaluate("document.body.appendChild(Object.assign(document.createElement('script'), {text: '1'}))")
            page.wait_for_function("window.__violations.length > 0")
            assert page.evaluate("window.__violations")[0].startswith("script-src")
            context.close()
        finally:
            browser.close()
