"""The routers of the api, one module per resource, all mounted under `/api/v1`."""

from __future__ import annotations

from fastapi import APIRouter

from podium_api.routes import (
    access,
    admin,
    audit,
    deliveries,
    health,
    hooks,
    jobs,
    me,
    metrics,
    projects,
    runs,
    schedules,
    secrets,
    streams,
    users,
    workers,
)

ROUTERS: list[APIRouter] = [
    health.router,
    me.router,
    projects.router,
    jobs.router,
    hooks.router,
    runs.router,
    deliveries.router,
    streams.router,
    schedules.router,
    secrets.router,
    workers.router,
    users.router,
    access.router,
    admin.router,
    audit.router,
    metrics.router,
]
