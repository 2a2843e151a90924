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

    def forward(sig: int, _frame: object) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    for name in FORWARDED:
        _signal.signal(getattr(_signal, name), forward)
