"""Helpers for the browser tests: Chromium from the system, the stack with a real podium-web."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.stack import ADMIN_PASSWORD, Stack
from tests.support import CI, Service, free_port, python_module

REPOSITORY = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = REPOSITORY / "deploy" / "examples" / "podium.yaml"
SCREENSHOTS = REPOSITORY / "test-output" / "screenshots"
DOC_SCREENSHOTS = REPOSITORY / "docs" / "screenshots"
"""Where `PODIUM_UPDATE_SCREENSHOTS=1` copies the screenshots of every page (linked from docs/ui.md)."""
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
CHROMIUM = os.environ.get("PODIUM_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
BIG_LOG_LINES = 1_000_000
START_TIMEOUT = 120.0  # seconds a service may take to answer; a busy 2-CPU machine needs far more than 20


def chromium_or_skip() -> str:
    """The Chromium executable; a failure under CI when it is missing, a skip elsewhere."""
    if Path(CHROMIUM).exists() or shutil.which(CHROMIUM):
        return CHROMIUM
    reason = f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium); browser tests need it"
    if CI:
        pytest.fail(reason)
    pytest.skip(reason)


def write_configuration(path: Path, gate: Path) -> Path:
    """The example project plus test jobs (a gated greeting, a required parameter, colours, a huge
    log, a second greeting with its own default, typed and secret parameters, two steps of which the
    second fails)."""
    configuration: dict[str, Any] = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    jobs = configuration["projects"][0]["jobs"]
    jobs += [
        {
            "id": "moon",
            "display_name": "Moon greeting",
            "parameters": [{"key": "name", "default": "moon"}],
            "definition": {"type": "job", "commands": [["echo", "hello {parameters.name}"]]},
        },
        {
            "id": "gated",
            "description": "Greets, then waits until the test creates its gate file.",
            "parameters": [{"key": "name", "default": "world"}],
            "definition": {
                "type": "job",
                "commands": [
                    [
                        "sh",
                        "-c",
                        f"echo 'hello {{parameters.name}}'; until [ -e '{gate}' ]; do sleep 0.05; done; echo done",
                    ]
                ],
                "timeout": 60,
            },
        },
        {
            "id": "typed",
            "description": "Typed parameters, one of them secret.",
            "parameters": [
                {"key": "count", "type": "integer", "required": True},
                {"key": "loud", "type": "boolean", "default": "false"},
                {"key": "colour", "type": "choice", "choices": ["red", "green"], "default": "red"},
                {"key": "token", "secret": True},
            ],
            "definition": {
                "type": "job",
                "commands": [["echo", "count={parameters.count} loud={parameters.loud} colour={parameters.colour}"]],
            },
        },
        {
            "id": "needs",
            "description": "Has a required parameter.",
            "parameters": [{"key": "target", "required": True, "description": "Where to go"}],
            "definition": {"type": "job", "commands": [["echo", "{parameters.target}"]]},
        },
        {
            "id": "colours",
            "description": "ANSI colours and markup in a log.",
            "definition": {
                "type": "job",
                "commands": [
                    [
                        "sh",
                        "-c",
                        r"printf '\033[31mred\033[0m plain\n<script>alert(1)</script>\n<b>bold?</b>\n'"
                        r"; printf '\033[32mgreen start\nstill green\033[0m\nplain again\n'",
                    ]
                ],
            },
        },
        {
            "id": "steps",
            "description": "Two commands, the second fails.",
            "definition": {
                "type": "job",
                "commands": [["echo", "first step"], ["sh", "-c", "echo 'about to fail'; exit 3"]],
            },
        },
        {
            "id": "big",
            "description": f"Prints {BIG_LOG_LINES} lines.",
            "definition": {
                "type": "job",
                "commands": [["sh", "-c", f"seq -f 'line %.0f of the big log' 1 {BIG_LOG_LINES}"]],
                "timeout": 300,
            },
        },
        {
            "id": "keeps",
            "description": "Keeps two files as artifacts.",
            "definition": {
                "type": "job",
                "artifacts": ["out/"],
                "commands": [
                    ["sh", "-c", "mkdir -p out/sub && echo report > out/report.txt && echo x > out/sub/x.csv"]
                ],
            },
        },
        {
            "id": "serial",
            "description": "One run at a time, of priority 5.",
            "priority": 5,
            "definition": {"type": "job", "commands": [["true"]], "concurrency": {"limit": 1}},
        },
    ]
    path.write_text(yaml.safe_dump(configuration, sort_keys=False))
    return path


class UiStack(Stack):
    """The `Stack` (master, api, workers) with a real podium-web in front of its api."""

    def __init__(self, directory: Path, database_url: str, config: Path) -> None:
        super().__init__(directory, database_url, config)
        self.web: Service | None = None
        self.web_url = ""
        self.password = ADMIN_PASSWORD

    def start_web(self) -> Service:
        """Start podium-web forwarding to the api and wait for its health endpoint."""
        port = free_port()
        argv = python_module("podium_web", "--port", str(port), "--api-url", self.api_url)
        self.web = Service("web", argv, output_dir=self.directory, cwd=REPOSITORY).start()
        self.web_url = f"http://127.0.0.1:{port}"
        self.web.wait_http(f"{self.web_url}/health", timeout=START_TIMEOUT)
        return self.web

    def stop(self) -> None:
        """Stop the web process, then the rest."""
        if self.web is not None:
            self.web.stop()
        super().stop()


def screenshot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot under test-output/screenshots/NAME.png (and docs/screenshots when asked).

    `PODIUM_UPDATE_SCREENSHOTS=1` also writes it to docs/screenshots, to refresh the pictures the
    documentation shows after a page changed.
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    if os.environ.get("PODIUM_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(path, DOC_SCREENSHOTS / path.name)
    return path
