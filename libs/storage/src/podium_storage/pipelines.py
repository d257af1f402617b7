"""Reading a pipeline run's children and graph from storage (master and api share this).

A pipeline element's child run has the deterministic id `podium_model.pipelines.element_run_id`,
so its children are found by id, one lookup per element, without a listing query.
"""

from __future__ import annotations

from podium_model import Job, PipelineDefinition, PipelineGraph, Run, RunDetail
from podium_model.pipelines import build_graph, element_run_id
from podium_storage.interface import Storage


async def load_children(storage: Storage, parent_id: str, definition: PipelineDefinition) -> dict[str, Run]:
    """The child runs of pipeline run `parent_id` that exist, by element id."""
    children: dict[str, Run] = {}
    for element in definition.elements:
        run = await storage.get_run(element_run_id(parent_id, element.id))
        if run is not None:
            children[element.id] = run
    return children


async def pipeline_graph(storage: Storage, run: Run, job: Job | None = None) -> PipelineGraph | None:
    """The graph of `run` if its job is a pipeline (None otherwise, or when the job is gone)."""
    if job is None:
        job = await storage.get_job(run.project, run.job)
    if job is None or not isinstance(job.definition, PipelineDefinition):
        return None
    children = await load_children(storage, run.id, job.definition)
    return build_graph(job.definition, children, aborted=run.should_abort)


async def run_detail(storage: Storage, run: Run) -> RunDetail:
    """`run` as the api answers one run: with its pipeline graph when it is a pipeline run."""
    return RunDetail(**dict(run), pipeline=await pipeline_graph(storage, run))
