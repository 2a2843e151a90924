"""Enforcement beyond Falco: kill the process that triggered an alert.

Falco only reports; `bastion watch --kill PRIORITY` ends the offending process when a rule of
that priority or worse matches. Only processes inside containers are killed (a host process is
never touched: the sensor watches the host too), and only the process whose identity the state
recorded: its start time is checked against the thread table's, then the pid is pinned with a
pidfd and checked again (`bastion._sys.signals`), so a recycled pid is never signalled.
"""

from __future__ import annotations

import _signal

from bastion._sys.proc import start_time
from bastion._sys.signals import pidfd_send_signal
from bastion.sensor.events.model import Event
from bastion.sensor.outputs.alert import Alert
from bastion.sensor.rules.engine import CompiledRule, priority_rank
from bastion.sensor.state.procfs import BootClock

# /proc start times have clock-tick resolution, the state's come from events or /proc: a
# second apart is another process
_SLACK_NS = 1_000_000_000


class KillProcess:
    """An `Action` for the pipeline: SIGKILL the event's process for severe-enough alerts."""

    def __init__(self, min_priority: str) -> None:
        self.max_rank = priority_rank(min_priority)
        self.clock = BootClock()
        self.killed = 0
        self.failed = 0

    def __call__(self, rule: CompiledRule, event: Event, alert: Alert) -> str | None:
        thread = event.thread
        if rule.rank > self.max_rank or thread is None or not thread.container_id:
            return None
        pid = thread.pid
        ticks = start_time(pid)
        if ticks is None:
            self.failed += 1
            return "kill-failed: process already gone"
        # the process under that pid must be the one whose start the state recorded
        if thread.start_ts and abs(self.clock.ticks_to_ns(ticks) - thread.start_ts) > _SLACK_NS:
            self.failed += 1
            return "kill-failed: pid reused"
        try:
            # pins the pid with a pidfd and checks that start time again before signalling
            pidfd_send_signal(pid, ticks, _signal.SIGKILL)
        except OSError as exc:
            self.failed += 1
            return f"kill-failed: {exc.strerror}"
        self.killed += 1
        return "killed-process"
