"""Fixtures of the master tests: a migrated database and a real master process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import DATABASES
from tests.databases import fresh_database
from tests.stack import Stack
from tests.support import Service

START_TIMEOUT = 90.0  # the shared test machine is often loaded: importing the master can be slow


def start_master(stack: Stack, *extra: str) -> Service:
    """Start (or restart) the master with the architecture's flags and wait for its health."""
    argv = [
        "podium-master",
        "--port", str(stack.master_port),
        "--database-url", stack.database_url,
        "--log-dir", str(stack.log_dir),
        "--control-secret", stack.secret,
        "--sweep-interval", "0.5",
    ]  # fmt: skip
    stack.master = Service("master", [*argv, *extra], output_dir=stack.directory).start()
    stack.master.wait_http(f"{stack.master_url}/health", timeout=START_TIMEOUT)
    return stack.master


@pytest.fixture(scope="module", params=DATABASES)
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A prepared database (admin and worker users) and a running master, shared by a module; no api.

    Starting processes is the slow part of these tests, and the protocol tests leave no state
    that another test could trip on (each uses its own worker ids).
    """
    directory = tmp_path_factory.mktemp("master")
    with fresh_database(request.param, directory) as url:
        stack = Stack(directory, url)
        stack.prepare()
        start_master(stack)
        try:
            yield stack
        finally:
            stack.stop()
