"""Enforcement beyond Falco: kill the process that triggered an alert.

Falco only reports; `bastion watch --kill PRIORITY` ends the offending process when a rule of
that priority or worse matches. Only processes inside containers are killed (a host process is
never touched: the sensor watches the host too), and only the process whose identity the state
recorded: the pid is pinned with a pidfd and its start time checked against the thread table's,
so a recycled pid is never signalled.
"""

from __future__ import annotations

import os
import signal

from bastion._sys.proc import start_time
from bastion.sensor.events.model import Event
from bastion.sensor.outputs.alert import Alert
from bastion.sensor.rules.engine import CompiledRule, priority_rank

_TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
# /proc start times have clock-tick resolution; the state's come from the kernel in ns
_SLACK_NS = 3 * _TICK_NS


def _boot_time_ns() -> int:
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("btime "):
                return int(line.split()[1]) * 1_000_000_000
    raise OSError("no btime in /proc/stat")


class KillProcess:
    """An `Action` for the pipeline: SIGKILL the event's process for severe-enough alerts."""

    def __init__(self, min_priority: str) -> None:
        self.max_rank = priority_rank(min_priority)
        self.boot_ns = _boot_time_ns()
        self.killed = 0
        self.failed = 0

    def __call__(self, rule: CompiledRule, event: Event, alert: Alert) -> str | None:
        thread = event.thread
        if rule.rank > self.max_rank or thread is None or not thread.container_id:
            return None
        pid = thread.pid
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            self.failed += 1
            return "kill-failed: process already gone"
        try:
            ticks = start_time(pid)
            if ticks is None:
                self.failed += 1
                return "kill-failed: process already gone"
            started = self.boot_ns + ticks * _TICK_NS
            # a thread whose start the state knows must be the one still running under that pid
            if thread.start_ts and abs(started - thread.start_ts) > _SLACK_NS + 1_000_000_000:
                self.failed += 1
                return "kill-failed: pid reused"
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        except OSError as exc:
            self.failed += 1
            return f"kill-failed: {exc.strerror}"
        finally:
            os.close(pidfd)
        self.killed += 1
        return "killed-process"
