"""Pipelines end to end through the real processes (issue 6): order, parallelism, failure,
abort and a master killed mid-pipeline. The master restart test comes last: it restarts the
module's shared master."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

from podium_model import PipelineGraph
from podium_model.pipelines import element_run_id
from podium_storage import open_storage
from podium_storage.pipelines import pipeline_graph
from tests.stack import Stack
from tests.support import wait_until


def _graph(stack: Stack, run_id: str) -> dict[str, Any]:
    """The pipeline's nodes by element, as `podium_storage.pipelines.pipeline_graph` builds them."""

    async def load() -> PipelineGraph | None:
        async with open_storage(stack.database_url) as storage:
            run = await storage.get_run(run_id)
            assert run is not None
            return await pipeline_graph(storage, run)

    graph = asyncio.run(load())
    assert graph is not None
    return {node.element: node for node in graph.nodes}


def _ledger(directory: Path) -> list[str]:
    path = directory / "ledger"
    return sorted(path.read_text().split()) if path.exists() else []


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_three_stages_run_in_order_with_the_middle_in_parallel(stack: Stack, tmp_path: Path) -> None:
    """1 → 3 → 1 succeeds; the middle elements overlap in time and get per-element parameters."""
    pipeline = stack.trigger("pipes", "three-stage", dir=str(tmp_path))

    done = stack.wait_run("pipes", pipeline["id"], timeout=60)

    assert done["status"] == "succeeded", stack.outputs()
    assert done["worker"] is None
    runs = {e: stack.run("pipes", element_run_id(pipeline["id"], e)) for e in ("first", "m1", "m2", "m3", "last")}
    assert all(run["status"] == "succeeded" for run in runs.values())
    source = runs["m2"]["source"]
    assert (source["type"], source["run"], source["element"], source["user"]) == (
        "pipeline",
        pipeline["id"],
        "m2",
        "admin",
    )
    assert runs["m2"]["parameters"] == {"dir": str(tmp_path), "name": "m2"}
    middle = [runs[e] for e in ("m1", "m2", "m3")]
    assert max(_at(r["started_at"]) for r in middle) < min(_at(r["completed_at"]) for r in middle)
    assert _at(runs["first"]["completed_at"]) <= min(_at(r["started_at"]) for r in middle)
    assert max(_at(r["completed_at"]) for r in middle) <= _at(runs["last"]["started_at"])
    assert _ledger(tmp_path) == ["first", "last", "m1", "m2", "m3"]
    nodes = _graph(stack, pipeline["id"])
    assert {e: (n.run, n.status) for e, n in nodes.items()} == {e: (r["id"], "succeeded") for e, r in runs.items()}


def test_failed_element_skips_exactly_its_success_dependents(stack: Stack, tmp_path: Path) -> None:
    """`a` fails: `b` and `d` (which need its success) are skipped, `c` and `e` run; the pipeline fails."""
    pipeline = stack.trigger("pipes", "failing", dir=str(tmp_path))

    done = stack.wait_run("pipes", pipeline["id"], timeout=60)

    assert done["status"] == "failed", stack.outputs()
    assert done["reason"] == "element 'a' ended failed"
    nodes = _graph(stack, pipeline["id"])
    assert {e: n.status for e, n in nodes.items()} == {
        "a": "failed",
        "b": "cancelled",
        "c": "succeeded",
        "d": "cancelled",
        "e": "succeeded",
    }
    assert nodes["b"].run is None and nodes["b"].reason == "element 'a' ended failed, not succeeded"
    assert nodes["d"].run is None and nodes["d"].reason == "element 'b' was skipped, not succeeded"
    assert _ledger(tmp_path) == ["a", "c", "e"]


def test_abort_mid_pipeline_leaves_no_child_running(stack: Stack, tmp_path: Path) -> None:
    """Aborting a pipeline aborts its running element, starts nothing more, and ends it aborted."""
    pipeline = stack.trigger("pipes", "holding", dir=str(tmp_path))
    wait_until(lambda: (tmp_path / "a.started").exists(), 30, "element a started")

    response = stack.client.post(f"/projects/pipes/runs/{pipeline['id']}/abort")
    assert response.status_code == 200, response.text
    done = stack.wait_run("pipes", pipeline["id"], timeout=60)

    assert done["status"] == "aborted", stack.outputs()
    nodes = _graph(stack, pipeline["id"])
    assert nodes["a"].status == "aborted"
    assert nodes["b"].status == "cancelled" and nodes["b"].run is None
    assert stack.run("pipes", element_run_id(pipeline["id"], "a"))["status"] == "aborted"
    assert _ledger(tmp_path) == ["a"]


def test_master_killed_mid_pipeline_resumes_each_element_once(stack: Stack, tmp_path: Path) -> None:
    """SIGKILL the master while element b runs, restart it: a, b, c each run once and it succeeds."""
    assert stack.master is not None
    pipeline = stack.trigger("pipes", "restartable", dir=str(tmp_path))
    wait_until(lambda: (tmp_path / "b.started").exists(), 30, "element b started")

    stack.master.kill()
    stack.start_master()
    (tmp_path / "release").touch()
    done = stack.wait_run("pipes", pipeline["id"], timeout=90)

    assert done["status"] == "succeeded", stack.outputs()
    assert _ledger(tmp_path) == ["a", "b", "c"]
    nodes = _graph(stack, pipeline["id"])
    assert all(n.status == "succeeded" and n.run == element_run_id(pipeline["id"], e) for e, n in nodes.items())
