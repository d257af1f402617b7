"""`/metrics`: the api's Prometheus metrics as text (administrators, auditors, the scraper token)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from podium_api.deps import FeedDep, StorageDep
from podium_api.feed import shielded
from podium_api.metrics import ApiMetrics
from podium_api.permissions import operation

router = APIRouter(tags=["admin"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text"}},
    **operation("getMetrics", summary="Prometheus metrics of this api process"),
)
async def get_metrics_text(request: Request, storage: StorageDep, feed: FeedDep) -> Response:
    """Request latencies, runs by non-final status, workers, and the master feed, in Prometheus text format."""
    metrics: ApiMetrics = request.app.state.metrics
    await shielded(metrics.refresh(storage, feed))
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
