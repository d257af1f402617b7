"""Fixtures that start the whole stack as real processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DATABASES
from tests.databases import fresh_database
from tests.stack import Stack

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "podium.yaml"


@pytest.fixture(scope="module", params=DATABASES)
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """master, api and one worker with the example configuration, shared by a module's tests.

    Starting the processes costs seconds, so the tests of a module share one stack per kind
    of database; each test makes its own runs and looks only at those.
    """
    directory = tmp_path_factory.mktemp(f"stack-{request.param}")
    with fresh_database(request.param, directory) as url:
        running = Stack(directory, url, config=EXAMPLES)
        try:
            running.start(workers=1)
            yield running
        finally:
            running.stop()
