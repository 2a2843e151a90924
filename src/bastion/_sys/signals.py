"""Signals by pidfd, so a recycled pid is never signalled, and signal names without `signal`.

The `signal` module imports `enum` (8 ms here); `_signal` holds the same constants.
"""

from __future__ import annotations

import _signal
import os

from bastion._sys.libc import SYS_PIDFD_SEND_SIGNAL, syscall
from bastion._sys.proc import start_time

SIGNALS: dict[str, int] = {
    name[3:]: value
    for name, value in vars(_signal).items()
    if name.startswith("SIG")
    and not name.startswith("SIG_")
    and isinstance(value, int)
    and name not in ("SIGRTMIN", "SIGRTMAX")
}


def parse_signal(text: str) -> int:
    """'KILL', 'SIGKILL', 'kill' or '9' -> 9; ValueError otherwise."""
    upper = text.upper()
    if upper.isdigit():
        number = int(upper)
        if 0 < number <= _signal.SIGRTMAX:
            return number
        raise ValueError(f"signal number out of range: {text}")
    name = upper[3:] if upper.startswith("SIG") else upper
    if name in SIGNALS:
        return SIGNALS[name]
    if name.startswith("RTMIN+") and name[6:].isdigit():
        return int(_signal.SIGRTMIN) + int(name[6:])
    raise ValueError(f"unknown signal {text!r}")


def pidfd_send_signal(pid: int, expected_start: int | None, sig: int) -> None:
    """Signal `pid` only if it is still the process that started at `expected_start`.

    Opening a pidfd pins the process; checking the start time after that closes the window in
    which the pid could be reused between our check and the signal.
    """
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        raise ProcessLookupError(3, f"process {pid} does not exist") from None
    try:
        if expected_start is not None and start_time(pid) != expected_start:
            raise ProcessLookupError(3, f"process {pid} is not the container's (pid reused)")
        syscall(SYS_PIDFD_SEND_SIGNAL, pidfd, sig, None, 0, what=f"pidfd_send_signal({pid}, {sig})")
    finally:
        os.close(pidfd)
