"""`/projects/{project}/deliveries`: the webhooks out a project's runs made, with every attempt.

Each delivery lists its latest attempts (`DELIVERY_ATTEMPTS_KEPT`) with the status answered,
the error and the time; the body sent is not shown (it is the run, which `GET .../runs/{run}`
answers). Docs: docs/notifications.md.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from podium_api.deps import StorageDep
from podium_api.lookups import project_or_404
from podium_api.permissions import operation
from podium_model import Page
from podium_model.notifications import Delivery, DeliveryFilter, DeliveryStatus

router = APIRouter(prefix="/projects/{project}/deliveries", tags=["deliveries"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such project"}}


@router.get(
    "", response_model=Page[Delivery], responses=_NOT_FOUND, **operation("listDeliveries", summary="List deliveries")
)
async def list_deliveries(
    project: str,
    storage: StorageDep,
    run: Annotated[str | None, Query(max_length=36, description="Only the deliveries of this run")] = None,
    status: DeliveryStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Page[Delivery]:
    """The project's deliveries, newest first, each with its attempts; pass `next_cursor` back as `cursor`."""
    await project_or_404(storage, project)
    return await storage.list_deliveries(project, DeliveryFilter(run=run, status=status), limit=limit, cursor=cursor)
