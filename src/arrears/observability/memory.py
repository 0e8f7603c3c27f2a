"""The peak memory of this process, as an operator sizes a machine by it."""

from __future__ import annotations

import resource
import sys
from pathlib import Path


def peak_memory_mb() -> float:
    """Peak resident memory of this process, in MB.

    On Linux, the high-water mark of the process's own address space (`VmHWM`): the
    `ru_maxrss` of a process started by fork and exec keeps the mark of the parent it was
    forked from (a bench holding gigabytes of generated data would be charged for them)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)  # kB
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)
