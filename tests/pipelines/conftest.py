"""One stack per database for the pipeline tests: master, api and two workers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DATABASES
from tests.databases import fresh_database
from tests.stack import Stack

CONFIG = Path(__file__).resolve().parent / "pipelines.yaml"


@pytest.fixture(scope="module", params=DATABASES)
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """master, api and workers w1 and w2 with `pipelines.yaml`, shared by a module's tests."""
    directory = tmp_path_factory.mktemp(f"pipelines-{request.param}")
    with fresh_database(request.param, directory) as url:
        running = Stack(directory, url, config=CONFIG)
        try:
            running.start(workers=2)
            yield running
        finally:
            running.stop()
