"""History: a large run table in PostgreSQL (bulk COPY), then the latency of listing pages over HTTP."""

from __future__ import annotations

import base64
import json
import os
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bench.client import Api
from bench.stack import PROJECT, Stack
from bench.stats import summary_ms

COLUMNS = ("id", "project", "job", "parameters", "source", "source_type", "worker", "status", "reason",
           "waiting_reason", "results", "should_cancel", "should_abort", "created_at", "assigned_at",
           "started_at", "completed_at", "updated_at")  # fmt: skip
BATCH = 50_000
SAMPLES = 200
"""Timed requests per page: enough for a p95 that is not just the third-slowest request."""


def uuid7(ms: int) -> str:
    """A UUIDv7 string for the millisecond `ms` (random low bits), as `podium_model.new_id` makes them."""
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | ((rand >> 62) & 0xFFF) << 64 | 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _rows(start: int, count: int, base: datetime) -> list[tuple[Any, ...]]:
    source = json.dumps({"type": "api", "user": "admin"})
    rows = []
    for number in range(start, start + count):
        created = base + timedelta(milliseconds=number * 10)
        ms = int(created.timestamp() * 1000)
        job = "other" if number % 10 == 0 else "echo"
        draw = random.random()
        status = "failed" if draw < 0.04 else "cancelled" if draw < 0.05 else "succeeded"
        ran = status != "cancelled"
        rows.append((
            uuid7(ms), PROJECT, job, "{}", source, "api", "w1" if ran else None, status, None, None,
            "{}", False, False, created, created if ran else None,
            created + timedelta(milliseconds=2) if ran else None, created + timedelta(milliseconds=5), created,
        ))  # fmt: skip
    return rows


async def fill(database_url: str, runs: int) -> dict[str, Any]:
    """COPY `runs` finished runs into the `runs` table (ids in time order), then settle it; rows/s."""
    url = database_url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(url)
    start = time.monotonic()
    base = datetime.now(UTC) - timedelta(milliseconds=runs * 10 + 60_000)
    try:
        for first in range(0, runs, BATCH):
            rows = _rows(first, min(BATCH, runs - first), base)
            await connection.copy_records_to_table("runs", records=rows, columns=COLUMNS)
        seconds = time.monotonic() - start
        await _settle(connection)
    finally:
        await connection.close()
    settle = time.monotonic() - start - seconds
    return {
        "runs": runs,
        "insert_s": round(seconds, 1),
        "rows_per_s": round(runs / seconds),
        "settle_s": round(settle, 1),
    }


async def _settle(connection: asyncpg.Connection) -> None:
    """Bring the freshly loaded table to the steady state of a table that grew over months.

    Right after a bulk load, PostgreSQL still owes the table a vacuum (autovacuum starts one
    within a minute, mid-measurement), the first read of every page writes its hint bits,
    and a checkpoint has hundreds of megabytes to flush: the listing would be timed against
    that catch-up work on a 2-core machine instead of against the queries themselves.
    """
    await connection.execute("VACUUM (ANALYZE) runs")
    try:
        await connection.execute("CHECKPOINT")
    except asyncpg.InsufficientPrivilegeError:  # needs superuser or pg_checkpoint: then let it be
        pass


def cursor_after(run_id: str) -> str:
    """The listing cursor continuing after `run_id` (checked against the api's own cursors first)."""
    return base64.urlsafe_b64encode(json.dumps({"before": run_id}, separators=(",", ":")).encode()).decode()


async def _timed(api: Api, params: dict[str, Any]) -> dict[str, float]:
    for _ in range(3):
        await api.page(PROJECT, **params)  # warm-up
    durations = []
    for _ in range(SAMPLES):
        start = time.perf_counter()
        page = await api.page(PROJECT, **params)
        durations.append(time.perf_counter() - start)
    summary = summary_ms(durations)
    summary["items"] = len(page["items"])
    return summary


async def listing(stack: Stack, runs: int) -> dict[str, Any]:
    """p50/p95 of the newest page, a filtered page (job + status) and a page deep in the cursor chain."""
    api = Api(stack.api_url, stack.token(), connections=2)
    try:
        first = await api.page(PROJECT)
        own_cursor = first.get("next_cursor")
        if own_cursor != cursor_after(first["items"][-1]["id"]):
            raise RuntimeError(f"the api's cursor format changed ({own_cursor!r}): update bench.history")
        deep = await _deep_id(stack.database_url, runs // 2)
        return {
            "newest_page": await _timed(api, {}),
            "filtered_page": await _timed(api, {"job": "echo", "status": "failed"}),
            "deep_page": {"position": runs // 2, **await _timed(api, {"cursor": cursor_after(deep)})},
        }
    finally:
        await api.close()


async def _deep_id(database_url: str, position: int) -> str:
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        run_id: str = await connection.fetchval("SELECT id FROM runs ORDER BY id DESC OFFSET $1 LIMIT 1", position)
    finally:
        await connection.close()
    return run_id
