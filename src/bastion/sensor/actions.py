"""Enforcement beyond Falco: what the sensor does when a rule matches.

Falco only reports. A rule's `action:` key (`kill_process`, `kill_container`, `pause_container`,
or `alert`), or `--action ACTION=PRIORITY` / `--action ACTION=rule:NAME` on the command line
(`--kill PRIORITY` is `--action kill_process=PRIORITY`), makes the sensor act, and the alert
records what was done (`Alert.action`).

An action never touches a process outside the container it names:
- only events of container threads are acted on (a host process is never touched: the
  sensor may watch the host too);
- `kill_process` signals the event's process only if it is the one the state recorded: its start
  time is checked against the thread table's, then the pid is pinned with a pidfd and checked
  again (`bastion._sys.signals`), so a recycled pid is never signalled. When the probe already
  killed it in the kernel (`Event.kernel_killed`: the in-kernel kill, `kernel_kill.py`, for
  the matches the kernel can decide), the alert records ``killed-process (kernel)`` and no
  signal is sent;
- `kill_container` and `pause_container` go through bastion-runc (`kill --all ID KILL`,
  `pause ID`) for containers whose identity record is under a runtime root the sensor watches:
  the runtime's own cgroup code finds the container's processes and keeps its state document
  true (a paused container shows as paused to `bastion ps` and `runc state`). A container
  bastion did not start is not acted on ("skipped" in the alert).
"""

from __future__ import annotations

import _signal
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bastion._sys.proc import start_time
from bastion._sys.signals import pidfd_send_signal
from bastion.errors import BastionError, ExitCode
from bastion.identity import IDENTITY_FILE
from bastion.sensor.events.model import Event
from bastion.sensor.outputs.alert import Alert, priority_rank
from bastion.sensor.rules.engine import CompiledRule
from bastion.sensor.rules.model import RULE_ACTIONS
from bastion.sensor.state.procfs import BootClock

# /proc start times have clock-tick resolution, the state's come from events or /proc: a
# second apart is another process
_SLACK_NS = 1_000_000_000
_RUNTIME_TIMEOUT = 10.0


class ActionConfigError(BastionError):
    """An `--action` flag that names no action, priority or rule."""

    reference = "action-config"
    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class ActionPolicy:
    """Which actions a rule's match takes: the rule's own `action:`, then the command line's
    per-rule and per-priority ones. `alert` is implied and never listed."""

    by_rule: dict[str, tuple[str, ...]] = field(default_factory=dict)
    by_priority: tuple[tuple[int, str], ...] = ()  # (rank or better, action)

    def actions_for(self, rule: CompiledRule) -> tuple[str, ...]:
        chosen = [*rule.definition.actions, *self.by_rule.get(rule.name, ())]
        chosen += [action for rank, action in self.by_priority if rule.rank <= rank]
        return tuple(dict.fromkeys(a for a in chosen if a != "alert"))

    @property
    def empty(self) -> bool:
        return not self.by_rule and not self.by_priority


def parse_actions(flags: Sequence[str], kill: str | None = None) -> ActionPolicy:
    """`--action ACTION=PRIORITY|rule:NAME` flags (and `--kill PRIORITY`) as a policy."""
    by_rule: dict[str, tuple[str, ...]] = {}
    by_priority: list[tuple[int, str]] = []
    for flag in [*flags, *([f"kill_process={kill}"] if kill else [])]:
        action, sep, target = flag.partition("=")
        if not sep or action not in RULE_ACTIONS or not target:
            raise ActionConfigError(
                f"--action {flag!r}: expected ACTION=PRIORITY or ACTION=rule:NAME",
                where="--action",
                hint=f"ACTION is one of {', '.join(RULE_ACTIONS)}",
            )
        if target.startswith("rule:"):
            name = target[5:]
            by_rule[name] = (*by_rule.get(name, ()), action)
            continue
        rank = priority_rank(target)
        if rank is None:
            raise ActionConfigError(
                f"--action {flag!r}: unknown priority {target!r}",
                where="--action",
                hint="emergency, alert, critical, error, warning, notice, informational, debug",
            )
        by_priority.append((rank, action))
    return ActionPolicy(by_rule, tuple(by_priority))


class Enforcer:
    """An `Action` for the pipeline: takes the policy's actions for each matching rule and
    says what it did (joined with ", "), or None when it had nothing to do."""

    def __init__(
        self,
        policy: ActionPolicy,
        runtime_roots: Iterable[str],
        *,
        runtime: str | None = None,
    ) -> None:
        self.policy = policy
        self.runtime_roots = tuple(runtime_roots)
        self.runtime = runtime or os.path.join(os.path.dirname(sys.executable), "bastion-runc")
        self.clock = BootClock()
        self.killed = 0
        self.killed_in_kernel = 0  # of `killed`: by the probe, recorded here
        self.killed_containers = 0
        self.paused = 0
        self.failed = 0
        self._paused_ids: set[str] = set()

    def __call__(self, rule: CompiledRule, event: Event, alert: Alert) -> str | None:
        actions = self.policy.actions_for(rule)
        thread = event.thread
        if not actions or thread is None or not thread.container_id:
            return None
        taken = []
        for action in actions:
            if action == "kill_process":
                taken.append(self._kill_process(event))
            else:
                taken.append(self._container_action(action, thread.container_id))
        return ", ".join(taken)

    def _kill_process(self, event: Event) -> str:
        thread = event.thread
        assert thread is not None
        if event.kernel_killed:
            self.killed += 1
            self.killed_in_kernel += 1
            return "killed-process (kernel)"
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

    def _runtime_root(self, container_id: str) -> str | None:
        for root in self.runtime_roots:
            if os.path.exists(os.path.join(root, container_id, IDENTITY_FILE)):
                return root
        return None

    def _container_action(self, action: str, container_id: str) -> str:
        verb = "killed-container" if action == "kill_container" else "paused-container"
        if action == "pause_container" and container_id in self._paused_ids:
            return "paused-container (already)"
        root = self._runtime_root(container_id)
        if root is None:
            return f"{action}-skipped: not a bastion container"
        verb_argv = ["kill", "--all", container_id, "KILL"]
        if action == "pause_container":
            verb_argv = ["pause", container_id]
        argv = [self.runtime, "--root", root, *verb_argv]
        try:
            result = subprocess.run(
                argv, capture_output=True, text=True, timeout=_RUNTIME_TIMEOUT, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.failed += 1
            return f"{action}-failed: {exc}"
        if result.returncode != 0:
            self.failed += 1
            reason = (result.stderr.strip().splitlines() or ["?"])[-1]
            return f"{action}-failed: {reason}"
        if action == "kill_container":
            self.killed_containers += 1
        else:
            self.paused += 1
            self._paused_ids.add(container_id)
        return verb
