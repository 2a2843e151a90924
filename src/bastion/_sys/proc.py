"""Facts about processes from /proc: start times (so a pid is never trusted alone), liveness,
and the mount table's escaping (mountinfo is read by the runtime's cgroup and host-mount code).

Built-in modules only (`posix`, not `os`): the lean `start` and `delete` (runtime/lean.py) ask
`is_alive` before anything has imported `os`."""

from __future__ import annotations

import posix


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
        posix.kill(pid, 9)
        posix.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def unescape_mountinfo(field: str) -> str:
    """A mount point or source as the kernel named it.

    mountinfo writes space, tab, newline and backslash as a backslash and three octal digits
    (`\\040`), so that a path cannot break the line into fields.
    """
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)
