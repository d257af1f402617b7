"""The web UI shows what a user may do per project (`/api/v1/me/access`), in a real Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.web.ui_support import CHROMIUM_ARGS, UiStack, chromium_or_skip

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect
Page = Any

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]
USER, PASSWORD = "vera", "vera-password"


def _project(project: str) -> dict[str, Any]:
    job = {
        "id": "hello",
        "description": f"Greets from {project}.",
        "definition": {"type": "job", "commands": [["echo", "hello"]]},
    }
    return {"id": project, "display_name": project.capitalize(), "jobs": [job]}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiStack]:
    """Master, api and podium-web (no worker: nothing runs) with the projects `seen` and `hidden`."""
    chromium_or_skip()
    directory = tmp_path_factory.mktemp("ui-access")
    config = directory / "podium.yaml"
    config.write_text(yaml.safe_dump({"projects": [_project("seen"), _project("hidden")]}))
    stack = UiStack(directory, f"sqlite+aiosqlite:///{directory / 'podium.db'}", config)
    try:
        stack.start(workers=0)
        stack.start_web()
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def page(stack: UiStack) -> Iterator[Page]:
    """A browser page on the web UI, not logged in; `USER` exists without any global role."""
    created = stack.client.post("/users", json={"id": USER, "password": PASSWORD})
    assert created.status_code in (201, 409), created.text  # 409: an earlier test of the module made it
    expect.set_options(timeout=20_000)
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_or_skip(), args=CHROMIUM_ARGS)
        yield browser.new_context(base_url=stack.web_url).new_page()
        browser.close()


def grant(stack: UiStack, project: str, role: str) -> None:
    """Give `USER` `role` on `project`, as the administrator, through the api."""
    response = stack.client.put(f"/projects/{project}/access/users/{USER}", json={"role": role})
    assert response.status_code == 200, response.text


def log_in(page: Page) -> None:
    """Log in as `USER` and wait until the UI knows what they may do (so an absent button means something)."""
    page.goto("/")
    page.get_by_label("User").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_response(lambda response: response.url.endswith("/api/v1/me/access")) as answer:
        page.get_by_role("button", name="Log in").click()
    assert answer.value.ok
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_a_viewer_of_one_project_sees_it_without_actions_an_operator_may_trigger(page: Page, stack: UiStack) -> None:
    """Viewer on `seen`: only `seen` listed, its job page has no trigger form nor enable/disable, its
    secrets page no set/delete. Operator on `seen` (after a reload): the trigger form and Disable appear."""
    grant(stack, "seen", "viewer")
    log_in(page)
    expect(page.get_by_role("heading", name="Seen")).to_be_visible()
    expect(page.locator('tr[data-job="hello"]')).to_have_count(1)
    expect(page.get_by_role("heading", name="Hidden")).to_have_count(0)
    expect(page.get_by_role("link", name="Users")).to_have_count(0)

    page.goto("/#/projects/seen/jobs/hello")
    expect(page.get_by_text("Greets from seen.")).to_be_visible()
    expect(page.get_by_role("form", name="Trigger a run")).to_have_count(0)
    expect(page.get_by_role("button", name="Run")).to_have_count(0)
    expect(page.get_by_role("button", name="Disable job")).to_have_count(0)

    page.goto("/#/projects/seen/secrets")
    expect(page.get_by_role("heading", name="Secrets")).to_be_visible()
    expect(page.get_by_text("No secrets.")).to_be_visible()
    expect(page.get_by_role("form", name="Set a secret")).to_have_count(0)

    grant(stack, "seen", "operator")
    with page.expect_response(lambda response: response.url.endswith("/api/v1/me/access")):
        page.goto("/#/projects/seen/jobs/hello")
        page.reload()
    expect(page.get_by_role("form", name="Trigger a run")).to_be_visible()
    expect(page.get_by_role("button", name="Run", exact=True)).to_be_enabled()
    expect(page.get_by_role("button", name="Disable job")).to_be_visible()
    page.goto("/#/projects/seen/secrets")
    expect(page.get_by_text("No secrets.")).to_be_visible()
    expect(page.get_by_role("form", name="Set a secret")).to_have_count(0)


def test_cancel_appears_when_the_live_feed_reconnects_after_a_grant(page: Page, stack: UiStack) -> None:
    """A viewer's run page has no Cancel for a pending run. Made operator meanwhile, the page learns it
    when the live feed reconnects (here: the api restarted), without a reload: Cancel appears."""
    grant(stack, "seen", "viewer")
    run = stack.trigger("seen", "hello")  # no worker: it stays pending
    log_in(page)
    page.goto(f"/#/projects/seen/runs/{run['id']}")
    expect(page.locator("h1 .badge")).to_have_text("pending")
    expect(page.get_by_role("button", name="Download archive")).to_be_visible()
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    grant(stack, "seen", "operator")
    assert stack.api is not None
    with page.expect_response(lambda response: response.url.endswith("/api/v1/me/access"), timeout=60_000):
        stack.api.stop()
        stack.start_api()
    expect(page.get_by_role("button", name="Cancel")).to_be_visible()
    expect(page.get_by_role("button", name="Abort")).to_have_count(0)  # only a running run is aborted
