"""`GET /health`: liveness and readiness (database and masters reachable)."""

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


class MasterHealth(Model):
    """One master of this api, as its health check found it."""

    url: str = Field(description="The base URL the api calls it at (with discovery: its address)")
    id: str | None = Field(
        default=None, description="Its `--master-id`, as its health last answered (None: it never answered)"
    )
    reachable: bool
    leader: bool | None = Field(default=None, description="Whether it leads (schedules, retention)")
    reason: str | None = Field(default=None, description="Why it is unreachable")


class Health(Model):
    """Readiness of the api and of what it depends on."""

    status: Literal["ok", "degraded", "unavailable"]
    version: str
    database: Literal["ok", "unavailable"]
    master: Literal["ok", "unreachable"] = Field(description="`ok` when every master answers")
    master_reason: str | None = Field(
        default=None,
        description="Why a master is unreachable (a refused TLS certificate, a refused connection); "
        "with several masters, each unreachable one's URL and reason",
    )
    masters: list[MasterHealth] = Field(default_factory=list, description="Every master, in the order given")


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "The database cannot be reached"}},
    **operation("getHealth", summary="Liveness and readiness"),
)
async def get_health(storage: StorageDep, master: ControlDep) -> JSONResponse:
    """200 when the database answers (`degraded` if a master does not), 503 with `Retry-After` when it does not.

    Every master is asked in parallel; `masters` lists each one (its id, reachable or why
    not), and `master` is `ok` only when all of them answer: one master down leaves the api
    serving (the others take the calls) but `degraded`.

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
    states = await master.probe()
    master_ok = all(state.reachable for state in states)
    down = [state for state in states if not state.reachable]
    if len(states) == 1:
        reason = states[0].reason
    else:
        reason = "; ".join(f"{state.url}: {state.reason}" for state in down) or None
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
        masters=[
            MasterHealth(url=s.url, id=s.id, reachable=s.reachable, leader=s.leader, reason=s.reason) for s in states
        ],
    )
    if database != "ok":  # not ready: a load balancer takes this api out, a client retries later
        return JSONResponse(health.model_dump(), status_code=503, headers={"Retry-After": RETRY_AFTER})
    return JSONResponse(health.model_dump())
