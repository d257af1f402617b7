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
            for name, each in (i.get("masters") or {"master": {"cpu_percent": i["master_cpu_percent"],
                                                              "rss_mb": i["master_rss_mb"]}}).items():  # fmt: skip
                out.append(
                    (
                        "fleet",
                        f"{f['workers']} idle workers"
                        + (f" ({f['workers'] // f['masters']} on each master)" if f.get("masters", 1) > 1 else "")
                        + f", {i['seconds']} s: {name}",
                        f"{each['cpu_percent']} % CPU, {each['rss_mb']} MB RSS",
                    )
                )
            s = f["spread"]
            out.append(
                ("fleet", f"{s['runs']} runs over them", f"{s['runs_per_s']} runs/s on {s['workers_used']} workers")
            )
    if "masters" in w:
        out += _masters_rows(w["masters"])
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


def _masters_rows(m: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Latency and throughput with 1 and 2 masters, one row per figure and configuration."""
    if "error" in m or "skipped" in m:
        return [("masters", "skipped" if "skipped" in m else "error", (m.get("error") or m["skipped"])[:80])]
    out: list[tuple[str, str, str]] = []
    for count in ("1", "2"):
        label = f"{count} master{'s' if count != '1' else ''}"
        lat, thr = m[count]["latency"], m[count]["throughput"]
        seen = lat["trigger_to_seen"]
        out.append(("masters", f"{label}: latency, trigger→succeeded seen ({lat['runs']} runs, 1 worker)",
                    f"p50 {seen['p50_ms']} / p95 {seen['p95_ms']} / p99 {seen['p99_ms']} ms"))  # fmt: skip
        workers = ", ".join(f"{name} {n}" for name, n in sorted(thr["per_worker"].items()))
        out.append(("masters", f"{label}: throughput, {thr['runs']} runs at once, 2 workers × 8",
                    f"{thr['runs_per_s']} runs/s ({workers})"))  # fmt: skip
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
