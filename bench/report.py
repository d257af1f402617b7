"""The one table printed at the end, and the JSON file under `bench/results/`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def _get(data: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(workload, metric, value) rows of what was measured."""
    out: list[tuple[str, str, str]] = []
    w = results.get("workloads", {})
    if "latency" in w:
        lat = w["latency"]
        if "error" in lat:
            out.append(("latency", "error", lat["error"][:80]))
        else:
            seen = lat["trigger_to_seen"]
            done = lat["phases"]["trigger→completed"]
            out.append(
                (
                    "latency",
                    f"trigger→succeeded seen on /events ({lat['runs']} runs)",
                    f"p50 {seen['p50_ms']} / p95 {seen['p95_ms']} / p99 {seen['p99_ms']} ms",
                )
            )
            out.append(
                (
                    "latency",
                    "trigger→completed_at (run timestamps)",
                    f"p50 {done['p50_ms']} / p95 {done['p95_ms']} / p99 {done['p99_ms']} ms",
                )
            )
            phases = " · ".join(
                f"{name} {lat['phases'][name]['p50_ms']}" for name in ("trigger→created", "queued", "start", "execute")
            )
            out.append(("latency", "p50 phases (ms)", phases))
    if "throughput" in w:
        t = w["throughput"]
        if "error" in t:
            out.append(("throughput", "error", t["error"][:80]))
        else:
            out.append(("throughput", f"{t['runs']} runs at once, 2 workers × 8", f"{t['runs_per_s']} runs/s"))
            rss = ", ".join(f"{name} {mb}" for name, mb in t["peak_rss_mb"].items())
            out.append(("throughput", "peak RSS (MB)", rss))
            if "cpu_ms_per_run" in t:
                cpu = ", ".join(f"{name} {ms}" for name, ms in t["cpu_ms_per_run"].items())
                out.append(("throughput", "CPU per run (ms)", f"{cpu}; total {t['cpu_ms_per_run_total']}"))
    if "fleet" in w:
        f = w["fleet"]
        if "error" in f:
            out.append(("fleet", "error", f["error"][:80]))
        else:
            i = f["idle"]
            out.append(
                (
                    "fleet",
                    f"{f['workers']} idle workers, {i['seconds']} s: master",
                    f"{i['master_cpu_percent']} % CPU, {i['master_rss_mb']} MB RSS",
                )
            )
            s = f["spread"]
            out.append(
                ("fleet", f"{s['runs']} runs over them", f"{s['runs_per_s']} runs/s on {s['workers_used']} workers")
            )
    if "history" in w:
        h = w["history"]
        if "error" in h or "skipped" in h:
            out.append(("history", "skipped" if "skipped" in h else "error", (h.get("error") or h["skipped"])[:80]))
        else:
            for page in ("newest_page", "filtered_page", "deep_page"):
                out.append(
                    (
                        "history",
                        f"{page.replace('_', ' ')} of {h['fill']['runs']:,} runs (PostgreSQL)",
                        f"p50 {h[page]['p50_ms']} / p95 {h[page]['p95_ms']} ms",
                    )
                )
    if "log" in w:
        g = w["log"]
        if "error" in g:
            out.append(("log", "error", g["error"][:80]))
        else:
            out.append(
                (
                    "log",
                    f"{g['bytes'] / 1e6:.0f} MB of log to the master",
                    f"{g['mb_per_s_held']} MB/s, checksum {'equal' if g['checksum_equal'] else 'DIFFERENT'}",
                )
            )
    return out


def table(results: dict[str, Any]) -> str:
    """The results as a Markdown table."""
    lines = ["| workload | metric | value |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows(results)]
    return "\n".join(lines)


def save(results: dict[str, Any], directory: Path = RESULTS, path: Path | None = None) -> Path:
    """Write the JSON file (`path`, or a new `<directory>/<timestamp>-<database>.json`); its path."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = path or directory / f"{stamp}-{results['database']}.json"
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return path
