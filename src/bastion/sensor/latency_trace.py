"""Where a live alert's latency goes: an optional trace, a measuring aid that is off by default.

With `BASTION_LATENCY_TRACE=PATH` in its environment, a live run with a spill area (`bastion
watch`, the sensor service) keeps, for each block read from the rings, four CLOCK_BOOTTIME
times in ns (the probe's own clock, so they compare with its timestamps): the probe timestamp
of the block's newest critical record (exec, exit, credentials: what the alert-latency bench
times; 0 if it has none), when the reader thread copied the block out of the rings, when the
evaluation took it from the spill, and when the pipeline (state, rules, outputs and their
writes) was done with the batch it was in. The lines are written when the run ends (nothing is
written on the event path). `bench/watch_kill.py --stages FILE` reads them. Off, the only cost
is one check per batch."""

from __future__ import annotations

import os
import time
from typing import NamedTuple

#: The environment variable naming the trace file (appended to; absent: no trace).
ENV = "BASTION_LATENCY_TRACE"


def clock_ns() -> int:
    """The probe's clock (bpf_ktime_get_boot_ns): CLOCK_BOOTTIME."""
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME)


class Stages(NamedTuple):
    """One traced block: the times (CLOCK_BOOTTIME ns) it reached each stage."""

    probe_ns: int
    read_ns: int
    handed_ns: int
    done_ns: int


class LatencyTrace:
    """The stages of the blocks of one run, written to `path` on `close`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.blocks: list[Stages] = []

    @classmethod
    def from_env(cls) -> LatencyTrace | None:
        path = os.environ.get(ENV)
        return cls(path) if path else None

    def add(self, stages: Stages) -> None:
        self.blocks.append(stages)

    def close(self) -> None:
        with open(self.path, "a", encoding="ascii") as f:
            f.writelines(" ".join(map(str, stages)) + "\n" for stages in self.blocks)
        self.blocks = []


def read_trace(path: str) -> list[Stages]:
    """The blocks a trace file holds (one run's or several)."""
    with open(path, encoding="ascii") as f:
        return [Stages(*map(int, line.split())) for line in f if line.strip()]
