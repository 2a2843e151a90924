"""The libc handle and the checked-call helper every wrapper uses."""

from __future__ import annotations

import ctypes
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

libc = ctypes.CDLL(None, use_errno=True)
_syscall = libc.syscall
_syscall.restype = ctypes.c_long

# x86_64 syscall numbers for calls glibc 2.36 has no wrapper for (or whose wrapper we avoid).
SYS_PIVOT_ROOT = 155
SYS_CAPGET = 125
SYS_CAPSET = 126
SYS_SETNS = 308
SYS_OPENAT2 = 437
SYS_PIDFD_SEND_SIGNAL = 424


def fail(what: str, path: str | None = None) -> OSError:
    """An OSError for the errno the last libc call left, saying what was attempted."""
    err = ctypes.get_errno()
    return OSError(err, f"{what}: {os.strerror(err)}", path)


def check(result: int, what: str, path: str | None = None) -> int:
    """Raise `fail(what, path)` when a libc call returned -1; else return its result."""
    if result == -1:
        raise fail(what, path)
    return result


def syscall(number: int, *args: Any, what: str, path: str | None = None) -> int:
    """Call a raw syscall by number; errors become OSError naming `what`."""
    return check(_syscall(number, *args), what, path)


def cstr(value: str | None) -> bytes | None:
    return None if value is None else os.fsencode(value)
