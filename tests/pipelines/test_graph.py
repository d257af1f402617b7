"""The pure pipeline functions: deterministic child ids, the graph and the outcome."""

from __future__ import annotations

import uuid

from podium_model import PipelineDefinition, Run, RunStatus, new_id, utcnow
from podium_model.pipelines import build_graph, element_run_id, outcome

DEFINITION = PipelineDefinition.model_validate(
    {
        "elements": [
            {"id": "a", "job": "j"},
            {"id": "b", "job": "j", "after": [{"element": "a"}]},
            {"id": "c", "job": "j", "after": [{"element": "a", "status": ["failed"]}]},
            {"id": "d", "job": "j", "after": [{"element": "b"}]},
        ]
    }
)


def _child(parent: str, element: str, status: RunStatus) -> Run:
    now = utcnow()
    run_id = element_run_id(parent, element)
    return Run(project="p", id=run_id, job="j", status=status, created_at=now, updated_at=now)


def test_child_ids_are_deterministic_and_sort_with_the_parent() -> None:
    """The same parent and element give the same UUIDv7 id, with the parent's timestamp."""
    parent = new_id()
    child = element_run_id(parent, "a")
    assert child == element_run_id(parent, "a") != element_run_id(parent, "b")
    assert uuid.UUID(child).version == 7
    assert child[:13] == parent[:13]
    assert element_run_id("not-a-uuid", "a") == element_run_id("not-a-uuid", "a")


def test_graph_starts_roots_then_skips_what_a_failure_rules_out() -> None:
    """Roots are ready first; a failed element skips its success dependents, transitively."""
    parent = new_id()
    graph = build_graph(DEFINITION, {})
    assert [n.element for n in graph.nodes if n.ready] == ["a"]
    assert outcome(graph) is None

    graph = build_graph(DEFINITION, {"a": _child(parent, "a", RunStatus.failed)})
    nodes = {n.element: n for n in graph.nodes}
    assert nodes["b"].status == RunStatus.cancelled and nodes["b"].run is None
    assert nodes["b"].reason == "element 'a' ended failed, not succeeded"
    assert nodes["d"].status == RunStatus.cancelled and nodes["d"].reason == "element 'b' was skipped, not succeeded"
    assert nodes["c"].ready
    assert outcome(graph) is None

    graph = build_graph(
        DEFINITION, {"a": _child(parent, "a", RunStatus.failed), "c": _child(parent, "c", RunStatus.succeeded)}
    )
    assert outcome(graph) == (RunStatus.failed, "element 'a' ended failed")


def test_abort_skips_unstarted_elements() -> None:
    """An aborted pipeline starts nothing more and ends aborted once its children are final."""
    parent = new_id()
    graph = build_graph(DEFINITION, {"a": _child(parent, "a", RunStatus.running)}, aborted=True)
    assert not any(n.ready for n in graph.nodes)
    assert outcome(graph, aborted=True) is None
    graph = build_graph(DEFINITION, {"a": _child(parent, "a", RunStatus.aborted)}, aborted=True)
    assert outcome(graph, aborted=True) == (RunStatus.aborted, "aborted on request")
