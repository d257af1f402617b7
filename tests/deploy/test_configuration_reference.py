"""docs/configuration.md is what the programs' parsers say (it is generated, and must not drift)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]


def test_the_committed_configuration_reference_matches_the_parsers() -> None:
    """`docs/configuration_reference.py --check` passes: every flag and variable is documented as parsed."""
    result = subprocess.run(
        [sys.executable, str(REPOSITORY / "docs" / "configuration_reference.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
