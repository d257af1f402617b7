"""Podium's wire contracts: entities, API bodies, protocol messages and the configuration schema.

This library is light on purpose (pydantic and PyYAML only): every service and the worker
depend on it, and it depends on no service.
"""

from podium_model._base import Page, Slug, UtcDatetime, new_id, utcnow
from podium_model.artifacts import Artifact
from podium_model.jobs import (
    AfterCondition,
    CommandsDefinition,
    Concurrency,
    Job,
    JobBase,
    JobDefinition,
    JobParameter,
    PipelineDefinition,
    PipelineElement,
    concurrency_key,
)
from podium_model.problems import Problem
from podium_model.projects import Project
from podium_model.runs import (
    FINAL_STATUSES,
    PipelineGraph,
    PipelineNode,
    Run,
    RunDetail,
    RunFilter,
    RunSource,
    RunStatus,
    RunStep,
    RunTrigger,
    RunUpdate,
)
from podium_model.schedules import Schedule, ScheduleBase
from podium_model.users import Credential, LoginRequest, LoginResponse, Role, User, UserCreate, UserUpdate
from podium_model.workers import Worker, WorkerDescription, WorkerUpdate

__version__ = "0.1.0"

__all__ = [
    "FINAL_STATUSES",
    "AfterCondition",
    "Artifact",
    "CommandsDefinition",
    "Concurrency",
    "Credential",
    "Job",
    "JobBase",
    "JobDefinition",
    "JobParameter",
    "LoginRequest",
    "LoginResponse",
    "Page",
    "PipelineDefinition",
    "PipelineElement",
    "PipelineGraph",
    "PipelineNode",
    "Problem",
    "Project",
    "Role",
    "Run",
    "RunDetail",
    "RunFilter",
    "RunSource",
    "RunStatus",
    "RunTrigger",
    "RunStep",
    "RunUpdate",
    "Schedule",
    "ScheduleBase",
    "Slug",
    "User",
    "UserCreate",
    "UserUpdate",
    "UtcDatetime",
    "Worker",
    "WorkerDescription",
    "WorkerUpdate",
    "concurrency_key",
    "new_id",
    "utcnow",
]
