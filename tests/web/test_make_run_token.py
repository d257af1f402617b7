"""`make run` reuses its worker token: a second start on the same PODIUM_HOME mints none (issue 17)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import httpx
import pytest

from tests.support import Service, free_port, wait_until
from tests.web.test_make_run import LAUNCHER, REPOSITORY, missing_services


def start_and_list_worker_tokens(home: Path, output: Path) -> list[str]:
    """Start the launcher on `home`, list the ids of the worker user's tokens once it runs, stop it."""
    port = free_port()
    env = {"PODIUM_HOME": str(home), "PODIUM_WEB_PORT": str(port), "PODIUM_ADMIN_PASSWORD": "secret"}
    launcher = Service("launcher", [sys.executable, str(LAUNCHER)], env=env, output_dir=output, cwd=REPOSITORY)
    launcher.start()
    assert launcher.process is not None
    try:
        wait_until(lambda: launcher.alive() and "Podium is running." in launcher.output, 90, "the launcher's banner")
        web = f"http://127.0.0.1:{port}/api/v1"
        token = httpx.post(f"{web}/me/login", json={"user": "admin", "password": "secret"}, timeout=10).json()["token"]
        tokens = httpx.get(f"{web}/users/worker/tokens", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert tokens.status_code == 200, tokens.text
        return [credential["id"] for credential in tokens.json()]
    finally:
        launcher.process.send_signal(signal.SIGINT)
        assert launcher.process.wait(60) == 0, launcher.output


@pytest.mark.slow
@pytest.mark.timeout(480)
def test_a_second_start_reuses_the_worker_token(tmp_path: Path) -> None:
    """Two starts make one worker token, kept in PODIUM_HOME for its owner only; a refused one is replaced."""
    missing = missing_services()
    if missing:
        pytest.skip(f"the services are not built yet: cannot import {', '.join(missing)}")
    home = tmp_path / "home"
    first = start_and_list_worker_tokens(home, tmp_path / "first")
    second = start_and_list_worker_tokens(home, tmp_path / "second")
    assert len(first) == 1 and second == first
    kept = home / "worker.token"
    assert kept.stat().st_mode & 0o777 == 0o600
    kept.write_text("pdm_not-a-valid-token\n")  # as if revoked: the launcher makes a new one
    third = start_and_list_worker_tokens(home, tmp_path / "third")
    assert len(third) == 2 and first[0] in third
