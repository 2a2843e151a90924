"""The host's CPU counters a container's CPU share is measured against (Docker's
`system_cpu_usage` and `online_cpus` in a stats document)."""

from __future__ import annotations

import os

#: /proc/stat counts in clock ticks (USER_HZ)
_TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def system_cpu_ns(stat_path: str = "/proc/stat") -> int:
    """Every CPU's time since boot, summed, in nanoseconds (the first `cpu` line of
    /proc/stat: user, nice, system, idle, iowait, irq, softirq, steal)."""
    with open(stat_path, encoding="ascii") as f:
        for line in f:
            if line.startswith("cpu "):
                return sum(int(v) for v in line.split()[1:9]) * _TICK_NS
    return 0


def online_cpus() -> int:
    return len(os.sched_getaffinity(0)) or os.cpu_count() or 1
