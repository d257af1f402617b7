"""Oversized input is refused where it enters, fast, without growing the api (issue 17).

Against the real stack: a 16 MiB parameter, a job whose YAML aliases expand to 20 MB and a
"billion laughs" document each get a problem naming the limit in well under a second, the
api's peak resident memory stays under 300 MB, and a `hello` triggered right after succeeds.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from podium_model.limits import CONFIGURATION_BYTES, JOB_DEFINITION_BYTES, PARAMETER_VALUE_BYTES, REQUEST_BODY_BYTES
from podium_model.problems import PROBLEM_MEDIA_TYPE
from tests.stack import Stack

CONFIGURATION = "/admin/configuration"
YAML = {"Content-Type": "application/yaml"}


def aliased_job(argument: int, arguments: int, commands: int) -> str:
    """A configuration whose one job's commands are aliases: small to send, large once expanded."""
    command = "[" + ", ".join(["&arg " + "x" * argument, *["*arg"] * (arguments - 1)]) + "]"
    listed = ", ".join(["&cmd " + command, *["*cmd"] * (commands - 1)])
    return (
        "projects:\n  - id: aliased\n    jobs:\n      - id: big\n"
        f"        definition: {{type: job, commands: [{listed}]}}\n"
    )


BILLION_LAUGHS = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(
            f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]"
            for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
        ),
        "projects: *i",
    ]
)


def refused(response: httpx.Response, status: int, limit: int, elapsed: float) -> None:
    """The answer is a problem of `status` whose text names `limit`, given in under a second."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert str(limit) in response.json()["detail"], response.text
    assert elapsed < 1.0, f"took {elapsed:.2f}s"


def timed(call: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    """Call `call` and measure how long it took."""
    start = time.monotonic()
    response = call()
    return response, time.monotonic() - start


def test_oversized_input_is_refused_fast_and_the_fleet_keeps_working(stack: Stack) -> None:
    """16 MiB parameter, 20 MB aliased job, billion laughs: 413/422 in < 1 s, api < 300 MB, hello succeeds."""
    client = stack.client
    trigger = "/projects/examples/jobs/hello/runs"
    huge = {"parameters": {"name": "x" * (16 * 1024 * 1024)}}
    response, elapsed = timed(lambda: client.post(trigger, json=huge))
    refused(response, 413, REQUEST_BODY_BYTES, elapsed)
    assert response.json()["limit"] == "request-body"

    large = {"parameters": {"name": "x" * (PARAMETER_VALUE_BYTES + 1)}}
    response, elapsed = timed(lambda: client.post(trigger, json=large))
    refused(response, 422, PARAMETER_VALUE_BYTES, elapsed)

    twenty_mb = aliased_job(argument=10_000, arguments=100, commands=20)
    assert len(twenty_mb) < 20_000
    response, elapsed = timed(lambda: client.put(CONFIGURATION, content=twenty_mb, headers=YAML))
    refused(response, 413, CONFIGURATION_BYTES, elapsed)
    assert response.json()["limit"] == "configuration"

    two_mb = aliased_job(argument=10_000, arguments=100, commands=2)
    response, elapsed = timed(lambda: client.put(CONFIGURATION, content=two_mb, headers=YAML))
    refused(response, 422, JOB_DEFINITION_BYTES, elapsed)

    response, elapsed = timed(lambda: client.put(CONFIGURATION, content=BILLION_LAUGHS, headers=YAML))
    refused(response, 413, CONFIGURATION_BYTES, elapsed)

    assert client.get("/projects/aliased").status_code == 404  # nothing of the refused documents stored
    assert stack.api is not None
    assert stack.api.peak_rss() < 300 * 1024 * 1024, stack.api.peak_rss()
    run = stack.trigger("examples", "hello", name="after")
    assert stack.wait_run("examples", run["id"])["status"] == "succeeded"
    assert stack.log("examples", run["id"]) == b"hello after\n"


def test_a_json_body_is_read_by_a_json_parser(stack: Stack) -> None:
    """JSON means what JSON says (a surrogate pair is one character); other types get 415."""
    document = (
        '{"projects": [{"id": "json-read", "display_name": "\\ud83d\\ude00",'
        ' "jobs": [{"id": "one", "definition": {"type": "job", "commands": [["true"]], "timeout": 1e3}}]}]}'
    )
    applied = stack.client.put(CONFIGURATION, content=document, headers={"Content-Type": "application/json"})
    assert applied.status_code == 200, applied.text
    assert stack.client.get("/projects/json-read").json()["display_name"] == "\N{GRINNING FACE}"
    job = stack.client.get("/projects/json-read/jobs/one").json()
    assert job["definition"]["timeout"] == 1000
    plain = stack.client.put(CONFIGURATION, content="projects: []", headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415 and plain.headers["content-type"] == PROBLEM_MEDIA_TYPE
