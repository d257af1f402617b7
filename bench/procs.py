"""What the kernel knows of a process: peak and current memory, CPU time (Linux `/proc`)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _status_kib(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of the process so far (`VmHWM`), in MB; 0 when it is gone."""
    return _status_kib(pid, "VmHWM") / 1024


def rss_mb(pid: int) -> float:
    """Current resident memory (`VmRSS`), in MB; 0 when the process is gone."""
    return _status_kib(pid, "VmRSS") / 1024


def cpu_seconds(pid: int, reaped: bool = False) -> float:
    """User plus system CPU time the process has used, in seconds.

    With `reaped`, also that of its children it has waited for (a worker's executor launcher
    reaps every executor it forked, and each executor its command).
    """
    try:
        with open(f"/proc/{pid}/stat") as stat:
            text = stat.read()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if reaped:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / CLOCK_TICKS


def children(pid: int) -> list[int]:
    """The process ids whose parent is `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    text = stat.read()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(text[text.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry))
    return found


@dataclass
class CpuMeter:
    """CPU share of one process between `start()` and `stop()`, as % of one core."""

    pid: int
    reaped: bool = False
    """Count the children the process has waited for too (see `cpu_seconds`)."""
    _cpu: float = 0.0
    _wall: float = 0.0

    def start(self) -> CpuMeter:
        """Take the first sample."""
        self._cpu, self._wall = cpu_seconds(self.pid, self.reaped), time.monotonic()
        return self

    def seconds(self) -> float:
        """CPU seconds since `start()`."""
        return cpu_seconds(self.pid, self.reaped) - self._cpu

    def percent(self) -> float:
        """CPU % of one core since `start()`."""
        wall = time.monotonic() - self._wall
        return 100.0 * self.seconds() / wall if wall > 0 else 0.0


def machine() -> dict[str, object]:
    """The machine the numbers come from: CPUs, CPU model, memory, kernel, Python."""
    model = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "")
    except OSError:
        pass
    memory_gb = _meminfo_kib("MemTotal") / 1024 / 1024
    uname = os.uname()
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory_gb": round(memory_gb, 1),
        "kernel": uname.release,
        "load_average": list(os.getloadavg()),
        "python": ".".join(map(str, __import__("sys").version_info[:3])),
    }


def _meminfo_kib(field: str) -> int:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
