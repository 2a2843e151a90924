"""The signals a foreground `run` or `exec` passes on to the container's process.

Its own module, not `commands/run.py`'s: `exec` needs it too, without importing `run` and
`create`'s option tables on its start-up path.
"""

from __future__ import annotations

import _signal
import os

# Signals a foreground `run` or `exec` passes on, as runc's signal handler does.
FORWARDED = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH")


def forward_signals(pid: int) -> None:
    """Pass the signals a foreground run/exec receives on to `pid` (runc's signal handler)."""
    Forwarder().target(pid)


class Forwarder:
    """Catches the forwarded signals from now on and passes them on once `target` names the
    process. `exec` installs it before it makes the process: its command may run (and a
    supervisor signal us) before `exec_process` returns, and a signal arriving in between
    would otherwise take its default action (end us, leaving the command running) or be lost.
    Those are queued and passed on when the pid is known. A child forked meanwhile inherits the
    handlers until it execs; one that signals nothing and never reaches `target`."""

    def __init__(self) -> None:
        self.pid = 0
        self.pending: list[int] = []
        for name in FORWARDED:
            _signal.signal(getattr(_signal, name), self._handle)

    def _handle(self, sig: int, _frame: object) -> None:
        if self.pid:
            _kill(self.pid, sig)
        else:
            self.pending.append(sig)

    def target(self, pid: int) -> None:
        self.pid = pid
        pending, self.pending = self.pending, []
        for sig in pending:
            _kill(pid, sig)


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
