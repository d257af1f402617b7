"""The executor keeping artifacts: what it copies, what it refuses, and the limits, on a real run directory."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from podium_worker._collect import MAX_FILES
from tests.worker.test_executor import execute, make_run


def test_collects_files_with_checksums_and_refuses_what_is_not_the_jobs(tmp_path: Path) -> None:
    """Regular files are copied with their checksum; a FIFO, a symlinked file or directory and a
    hidden file a `*` does not match are not, and the log names each refusal."""
    outside = tmp_path / "secret.txt"
    outside.write_text("not yours\n")
    script = (
        "mkdir -p out/d && printf one > out/one.txt && printf two > out/d/two.txt && mkfifo out/pipe "
        f"&& ln -s {outside} out/link.txt && ln -s {tmp_path} out/dir && printf h > .hidden && printf t > top.log"
    )
    run_dir = make_run(tmp_path, [["sh", "-c", script]], artifacts=["out", "*.log", "*"])
    final = execute(run_dir)
    assert final["status"] == "succeeded"
    kept = {item["path"]: item for item in final["artifacts"]}
    assert sorted(kept) == ["out/d/two.txt", "out/one.txt", "top.log"]
    for number, item in enumerate(final["artifacts"]):
        copy = (run_dir / "artifacts" / str(number)).read_bytes()
        assert hashlib.sha256(copy).hexdigest() == item["sha256"] and len(copy) == item["size"]
    log = (run_dir / "log").read_text()
    assert "[podium] artifact out/pipe skipped: not a regular file" in log
    assert "[podium] artifact out/link.txt skipped: a symlink is on its path" in log
    assert "out/dir" not in json.dumps(final["artifacts"])
    assert "kept 3 artifacts" in log


def test_keeps_at_most_the_file_limit_and_nothing_after_an_abort_or_exception(tmp_path: Path) -> None:
    script = f"mkdir many && cd many && seq 1 {MAX_FILES + 1} | xargs touch"
    run_dir = make_run(tmp_path, [["sh", "-c", script]], artifacts=["many/"])
    final = execute(run_dir)
    assert len(final["artifacts"]) == MAX_FILES
    assert f"skipped: a run keeps at most {MAX_FILES} files" in (run_dir / "log").read_text()
    other = make_run(tmp_path / "b", [["sh", "-c", "touch kept"], ["no-such-program"]], artifacts=["*"])
    final = execute(other)
    assert final["status"] == "exception" and "artifacts" not in final


def test_patterns_that_could_leave_the_workspace_are_refused_by_the_model() -> None:
    from pydantic import ValidationError

    from podium_model import CommandsDefinition

    for pattern in ("/etc/*", "../x", "out/../../x", "", "a\\b", "x" * 1025):
        try:
            CommandsDefinition(commands=[["true"]], artifacts=[pattern])
        except ValidationError as exc:
            assert "artifact path" in str(exc)
        else:
            raise AssertionError(f"{pattern!r} was accepted")
    assert CommandsDefinition(commands=[["true"]], artifacts=["out/**/*.xml", "dist/"]).artifacts
