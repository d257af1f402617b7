"""`/audit`: the audit log of administrative changes (administrators and auditors)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from podium_api.deps import StorageDep
from podium_api.permissions import operation
from podium_model import Page
from podium_model.audit import AuditEntry, AuditFilter

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=Page[AuditEntry], **operation("listAudit", summary="List the audit log"))
async def list_audit(
    storage: StorageDep,
    actor: Annotated[str | None, Query(max_length=64, description="Only changes made by this user")] = None,
    action: Annotated[str | None, Query(max_length=64, description="Only this action, e.g. `user.disable`")] = None,
    target: Annotated[str | None, Query(max_length=300, description="Only changes to this, e.g. `user/alice`")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Page[AuditEntry]:
    """Administrative changes, newest first; pass `next_cursor` back as `cursor` for the next page."""
    return await storage.list_audit(AuditFilter(actor=actor, action=action, target=target), limit=limit, cursor=cursor)
