"""Disabling and enabling a worker through the api takes effect on dispatch at once (no sweep wait)."""

from __future__ import annotations

from pathlib import Path

from tests.databases import sqlite_url
from tests.operations.helpers import configured_stack, start_worker
from tests.support import wait_until


def test_disabled_worker_gets_no_run_until_enabled(tmp_path: Path) -> None:
    """A run triggered while the only worker is disabled waits with the reason; enabling runs it."""
    stack = configured_stack(tmp_path, sqlite_url(tmp_path))
    try:
        stack.start_master("--sweep-interval", "300")  # no sweep to hide a missed refresh
        stack.start_api()
        start_worker(stack, "w1")
        wait_until(lambda: stack.client.get("/workers/w1").json().get("is_active"), 60, "w1 active")
        assert stack.client.post("/workers/w1/disable").json()["is_enabled"] is False
        run = stack.trigger("ops", "hello")
        waiting = stack.wait_run("ops", run["id"], {"pending"})

        def reason() -> str | None:
            value = stack.run("ops", run["id"]).get("waiting_reason")
            return value if isinstance(value, str) else None

        assert waiting["status"] == "pending"
        assert wait_until(reason, 30, "a waiting reason") == "every matching worker is disabled"
        assert stack.client.post("/workers/w1/enable").json()["is_enabled"] is True
        done = stack.wait_run("ops", run["id"])
        assert done["status"] == "succeeded" and done["worker"] == "w1", done
    finally:
        stack.stop()
