"""A peer's own venv under a cache directory, outside the workspace lock, installed from PyPI once."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

CACHE = Path(os.environ.get("PODIUM_BENCH_CACHE") or Path.home() / ".cache" / "podium-bench")


def ensure_venv(name: str, packages: list[str]) -> Path:
    """Create `<cache>/<name>-venv` with `packages` when missing (or when `packages` changed); its bin directory."""
    venv = CACHE / f"{name}-venv"
    bin_dir = venv / "bin"
    # the marker names what was installed, so a new pin reinstalls instead of measuring the old one
    marker = venv / ("installed-" + "-".join(packages).replace("/", "_"))
    if not marker.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
        subprocess.run([str(bin_dir / "pip"), "install", "-q", *packages], check=True)
        marker.write_text("")
    return bin_dir
