"""A client generated from the api's OpenAPI document by openapi-python-client works against a real stack.

Keeps the document usable by generators: the archive's binary answer, the configuration body
typed with the configuration's schema. Generation takes a few seconds; the stack is the real one
(master, api, a worker).
"""

from __future__ import annotations

import gzip
import importlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.stack import ADMIN_PASSWORD, Stack
from tests.support import wait_until

pytestmark = pytest.mark.slow
REPOSITORY = Path(__file__).resolve().parents[2]
EXAMPLES = REPOSITORY / "deploy" / "examples" / "podium.yaml"
# openapi-python-client reads only a few media types as files: the archive's gzip is one of them.
GENERATOR_CONFIG = "content_type_overrides:\n  application/gzip: application/octet-stream\n"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The example project on SQLite with one worker."""
    directory = tmp_path_factory.mktemp("generated-client-stack")
    stack = Stack(directory, f"sqlite+aiosqlite:///{directory}/podium.db", config=EXAMPLES)
    try:
        stack.start(workers=1)
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def generated(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The package generated from the running api's /api/v1/openapi.json, imported."""
    generator = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent))
    if generator is None:
        pytest.skip("openapi-python-client is not installed (uv sync --all-packages)")
    directory = tmp_path_factory.mktemp("generated")
    document = directory / "openapi.json"
    document.write_text(httpx.get(f"{stack.api_url}/api/v1/openapi.json", timeout=30).text)
    (directory / "config.yaml").write_text(GENERATOR_CONFIG)
    result = subprocess.run(
        [generator, "generate", "--path", str(document), "--meta", "none", "--config", str(directory / "config.yaml"),
         "--output-path", str(directory / "podium_generated")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    sys.path.insert(0, str(directory))
    try:
        yield importlib.import_module("podium_generated")
    finally:
        sys.path.remove(str(directory))
        for name in [name for name in sys.modules if name.split(".")[0] == "podium_generated"]:
            del sys.modules[name]


def module(name: str) -> Any:
    """A module of the generated package."""
    return importlib.import_module(f"podium_generated.{name}")


def test_a_generated_client_logs_in_applies_triggers_reads_and_downloads(stack: Stack, generated: Any) -> None:
    """login → apply (dry run, typed body) → trigger → get → list → archive, all with the generated code."""
    models = module("models")
    anonymous = generated.Client(base_url=stack.api_url)
    login = module("api.me.login").sync(
        client=anonymous, body=models.LoginRequest(user="admin", password=ADMIN_PASSWORD)
    )
    assert isinstance(login, models.LoginResponse), login
    client = generated.AuthenticatedClient(base_url=stack.api_url, token=login.token)

    configuration = models.PodiumConfiguration.from_dict(yaml.safe_load(EXAMPLES.read_text()))
    applied = module("api.admin.apply_configuration").sync(client=client, body=configuration, dry_run=True)
    assert isinstance(applied, models.ConfigurationResult), applied

    body = models.RunTrigger.from_dict({"parameters": {"name": "generated"}})
    run = module("api.jobs.trigger_run").sync("examples", "hello", client=client, body=body)
    assert isinstance(run, models.Run), run
    get_run = module("api.runs.get_run")

    def finished() -> Any:
        shown = get_run.sync("examples", run.id, client=client)
        return shown if str(shown.status.value) not in {"pending", "running"} else None

    final = wait_until(finished, 60, "the generated client's run to end")
    assert final.status.value == "succeeded"
    page = module("api.runs.list_runs").sync("examples", client=client, job="hello")
    assert run.id in [item.id for item in page.items]
    archive = module("api.runs.get_run_archive").sync("examples", run.id, client=client)
    data = archive.payload.read()
    assert gzip.decompress(data)  # a real gzip file
    assert json.loads(json.dumps(final.to_dict()))["id"] == run.id  # models round-trip to JSON
