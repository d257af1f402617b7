"""Percentiles and the per-run phase breakdown from a run's own timestamps."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from bench.client import timestamp

PHASES = (("queued", "created_at", "assigned_at"), ("start", "assigned_at", "started_at"),
          ("execute", "started_at", "completed_at"))  # fmt: skip


def percentile(values: Sequence[float], fraction: float) -> float:
    """The `fraction` percentile (nearest rank) of `values`; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/mean/max of durations in seconds, in milliseconds."""
    ms = [value * 1000 for value in seconds]
    return {
        "p50_ms": round(percentile(ms, 0.50), 1),
        "p95_ms": round(percentile(ms, 0.95), 1),
        "p99_ms": round(percentile(ms, 0.99), 1),
        "mean_ms": round(statistics.fmean(ms), 1) if ms else 0.0,
        "max_ms": round(max(ms), 1) if ms else 0.0,
        "count": len(ms),
    }


def breakdown(runs: Sequence[dict[str, Any]], triggered: dict[str, float]) -> dict[str, dict[str, float]]:
    """Per phase (trigger→created, created→assigned, assigned→started, started→completed), the p50/p95."""
    phases: dict[str, list[float]] = {"trigger→created": [], "trigger→completed": []}
    for name, _, _ in PHASES:
        phases[name] = []
    for run in runs:
        start = triggered.get(run["id"])
        created, completed = timestamp(run.get("created_at")), timestamp(run.get("completed_at"))
        if start is not None and created is not None:
            phases["trigger→created"].append(created - start)
        if start is not None and completed is not None:
            phases["trigger→completed"].append(completed - start)
        for name, begin, end in PHASES:
            a, b = timestamp(run.get(begin)), timestamp(run.get(end))
            if a is not None and b is not None:
                phases[name].append(b - a)
    return {name: summary_ms(values) for name, values in phases.items()}
