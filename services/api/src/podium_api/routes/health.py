"""`GET /health`: liveness and readiness (database and master reachable)."""

from __future__ import annotations

import logging
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import Field

from podium_api import __version__
from podium_api.deps import ControlDep, StorageDep
from podium_api.errors import RETRY_AFTER
from podium_api.permissions import operation
from podium_model._base import Model
from podium_storage.interface import StorageUnavailable

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


class Health(Model):
    """Readiness of the api and of what it depends on."""

    status: Literal["ok", "degraded", "unavailable"]
    version: str
    database: Literal["ok", "unavailable"]
    master: Literal["ok", "unreachable"]
    master_reason: str | None = Field(
        default=None, description="Why the master is unreachable (a refused TLS certificate, a refused connection)"
    )


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "The database cannot be reached"}},
    **operation("getHealth", summary="Liveness and readiness"),
)
async def get_health(storage: StorageDep, master: ControlDep) -> JSONResponse:
    """200 when the database answers (`degraded` if the master does not), 503 with `Retry-After` when it does not.

    The 503 means "this api cannot serve now": every other route answers 503 problem+json too
    until the database is back. The body is this `Health` document, not a problem, so that a
    probe reads the same fields either way.
    """
    try:
        await storage.ping()
        database: Literal["ok", "unavailable"] = "ok"
    except StorageUnavailable as exc:
        logger.warning("health: database unavailable: %s", exc)
        database = "unavailable"
    document, reason = await master.probe()
    master_ok = document is not None
    if database != "ok":
        status: Literal["ok", "degraded", "unavailable"] = "unavailable"
    else:
        status = "ok" if master_ok else "degraded"
    health = Health(
        status=status,
        version=__version__,
        database=database,
        master="ok" if master_ok else "unreachable",
        master_reason=reason,
    )
    if database != "ok":  # not ready: a load balancer takes this api out, a client retries later
        return JSONResponse(health.model_dump(), status_code=503, headers={"Retry-After": RETRY_AFTER})
    return JSONResponse(health.model_dump())
