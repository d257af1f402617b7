"""Pipeline runs as a pure function of their definition and child runs (docs/concepts.md, Configuration as code).

Everything here derives from storage alone, so the master's pipeline engine can be killed and
restarted at any point: `element_run_id` gives each element's child run a deterministic id (a
replayed start fails with "already exists" instead of duplicating the element), and
`build_graph` recomputes from the children found what is done, what may start now and what can
never start.

An element that never started and whose conditions can no longer hold is *skipped*: its node
reads `cancelled` with the failed condition as its reason, and no child run is created for it
(a created-then-cancelled run could be taken by a worker in between).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping

from podium_model.jobs import AfterCondition, PipelineDefinition
from podium_model.runs import PipelineGraph, PipelineNode, Run, RunStatus

_NAMESPACE = uuid.UUID("5d0c4f36-8a57-4c1b-9f3e-6f1f0b8f7a21")


def element_run_id(parent_id: str, element_id: str) -> str:
    """The id of the child run executing `element_id` of pipeline run `parent_id`.

    Deterministic, so starting an element twice collides. When the parent id is a UUIDv7, the
    child keeps its 48-bit timestamp: children sort (and dispatch) with their pipeline's
    creation time, before runs triggered after it.
    """
    digest = hashlib.sha256(f"{parent_id}\0{element_id}".encode()).digest()
    try:
        parent = uuid.UUID(parent_id)
    except ValueError:
        return str(uuid.uuid5(_NAMESPACE, f"{parent_id}\0{element_id}"))
    if parent.version != 7:
        return str(uuid.uuid5(_NAMESPACE, f"{parent_id}\0{element_id}"))
    value = bytearray(parent.bytes[:6] + digest[:10])
    value[6] = 0x70 | (value[6] & 0x0F)  # version 7
    value[8] = 0x80 | (value[8] & 0x3F)  # RFC 9562 variant
    return str(uuid.UUID(bytes=bytes(value)))


def _condition_state(condition: AfterCondition, node: PipelineNode) -> bool | None:
    """True: holds; False: can never hold; None: not decided yet."""
    if node.status is None or not node.status.is_final:
        return None
    return node.status in condition.status


def _describe(condition: AfterCondition, node: PipelineNode) -> str:
    wanted = " or ".join(status.value for status in condition.status)
    how = f"ended {node.status.value}" if node.status is not None else "did not run"
    if node.run is None and node.status == RunStatus.cancelled:
        how = "was skipped"
    return f"element {condition.element!r} {how}, not {wanted}"


def build_graph(definition: PipelineDefinition, children: Mapping[str, Run], aborted: bool = False) -> PipelineGraph:
    """The pipeline's graph from its definition and its child runs by element id.

    Args:
        definition: the pipeline job's definition.
        children: the child runs found, by element id.
        aborted: the pipeline was asked to abort: elements not started are skipped.
    """
    elements = {element.id: element for element in definition.elements}
    nodes: dict[str, PipelineNode] = {}

    def visit(element_id: str) -> PipelineNode:
        if element_id in nodes:
            return nodes[element_id]
        element = elements[element_id]
        node = PipelineNode(element=element.id, job=element.job, after=[c.element for c in element.after])
        child = children.get(element_id)
        if child is not None:
            node.run, node.status, node.reason = child.id, child.status, child.reason
        elif aborted:
            node.status, node.reason = RunStatus.cancelled, "the pipeline was aborted"
        else:
            states = [(condition, visit(condition.element)) for condition in element.after]
            broken = [(c, n) for c, n in states if _condition_state(c, n) is False]
            if broken:
                node.status, node.reason = RunStatus.cancelled, _describe(*broken[0])
            else:
                node.ready = all(_condition_state(c, n) for c, n in states)
        nodes[element_id] = node
        return node

    # Configuration validation rejects cycles, so the recursion ends.
    return PipelineGraph(nodes=[visit(element.id) for element in definition.elements])


def outcome(graph: PipelineGraph, aborted: bool = False) -> tuple[RunStatus, str | None] | None:
    """The pipeline's final status and reason once every element is final; None before."""
    if any(node.status is None or not node.status.is_final for node in graph.nodes):
        return None
    if aborted:
        return RunStatus.aborted, "aborted on request"
    unsuccessful = [node for node in graph.nodes if node.status != RunStatus.succeeded]
    if not unsuccessful:
        return RunStatus.succeeded, None
    first = min(unsuccessful, key=lambda node: node.run is None)  # a run that failed explains best
    status = first.status.value if first.status is not None else "unknown"
    skipped = " (skipped)" if first.run is None else ""
    return RunStatus.failed, f"element {first.element!r} ended {status}{skipped}"
