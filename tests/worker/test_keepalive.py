"""The container init of jobs in containers: a well-formed static executable that blocks.

Its SIGTERM handler signals every process it may (`kill(-1)`), which on a host means all of the
test's user: so the test never sends it SIGTERM, only SIGKILL (tests/containers test that part
inside a container).
"""

from __future__ import annotations

import platform
import struct
import subprocess
from pathlib import Path

import pytest

from podium_worker import keepalive
from tests.support import wait_until


def test_the_program_is_one_loadable_segment_entered_at_its_code() -> None:
    """ELF64, x86-64, executable, one PT_LOAD mapping the whole file, entry at the first instruction."""
    program = keepalive.program()
    assert program[:4] == b"\x7fELF" and program[4] == 2 and program[5] == 1
    e_type, e_machine, _, e_entry, e_phoff = struct.unpack_from("<HHIQQ", program, 16)
    assert (e_type, e_machine, e_phoff) == (2, 0x3E, 64)
    assert e_entry == keepalive.BASE + keepalive.HEADERS
    p_type, p_flags, p_offset, p_vaddr, _, p_filesz, p_memsz, _ = struct.unpack_from("<IIQQQQQQ", program, 64)
    assert (p_type, p_flags, p_offset, p_vaddr) == (1, 5, 0, keepalive.BASE)
    assert p_filesz == p_memsz == len(program) == keepalive.HEADERS + len(keepalive.CODE)


@pytest.mark.skipif(platform.machine() != keepalive.MACHINE, reason="the init is x86-64 code")
def test_the_program_runs_and_waits(tmp_path: Path) -> None:
    """Started, it sleeps (in wait4 or pause) instead of exiting; SIGKILL ends it."""
    path = tmp_path / "init"
    path.write_bytes(keepalive.program())
    path.chmod(0o755)
    process = subprocess.Popen([str(path)])
    try:

        def sleeping() -> bool:
            assert process.poll() is None, f"the init exited {process.returncode}"
            state = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            return state == "S"

        wait_until(sleeping, 10, "the init to block")
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -9
