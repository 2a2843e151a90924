"""Facts about processes from /proc: start times (so a pid is never trusted alone), liveness."""

from __future__ import annotations

import os


def stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name, or None if there is no such process.

    The command name (field 2) may hold spaces and parentheses, so split after the last ')'.
    Index 0 of the result is field 3 (state); the start time, field 22, is index 19.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return data[data.rindex(b")") + 2 :].decode().split()


def start_time(pid: int) -> int | None:
    """The start time of `pid` in clock ticks since boot, or None if it does not exist."""
    fields = stat_fields(pid)
    return None if fields is None else int(fields[19])


def is_alive(pid: int, start: int | None) -> bool:
    """True if `pid` runs and is the same process as when `start` was recorded (not a zombie)."""
    if pid <= 0:
        return False
    fields = stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return False
    return start is None or int(fields[19]) == start


def kill_and_reap(pid: int) -> None:
    """SIGKILL our child `pid` and wait for it; quiet if it is already gone or reaped."""
    try:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
