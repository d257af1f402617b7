"""Fixtures that start the whole stack as real processes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import DATABASES
from tests.databases import fresh_database
from tests.mongo_server import fresh_database_url, mongo_server
from tests.stack import Stack

__all__ = ["mongo_server"]  # the fixture `example_stack` asks for on MongoDB

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "podium.yaml"
MONGODB = pytest.param("mongodb", marks=pytest.mark.mongodb)


@contextmanager
def example_stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """master, api and one worker with the example configuration on the database `request.param`."""
    kind: str = request.param
    directory = tmp_path_factory.mktemp(f"stack-{kind}")
    with fresh_database(kind, directory) if kind != "mongodb" else _mongo(request) as url:
        running = Stack(directory, url, config=EXAMPLES)
        try:
            running.start(workers=1)
            yield running
        finally:
            running.stop()


@contextmanager
def _mongo(request: pytest.FixtureRequest) -> Iterator[str]:
    yield fresh_database_url(request.getfixturevalue("mongo_server"))


@pytest.fixture(scope="module", params=DATABASES)
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The example stack, shared by a module's tests, on SQLite and PostgreSQL.

    Starting the processes costs seconds, so the tests of a module share one stack per kind
    of database; each test makes its own runs and looks only at those.
    """
    with example_stack(request, tmp_path_factory) as running:
        yield running
