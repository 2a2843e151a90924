"""Raw syscalls (the C extension `_native`, else ctypes), the libc handle, the checked-call helpers.

`syscall(number, *args, what=...)` is how the wrappers of this package make a call Python has no
function for. Its arguments are plain values, so either backend can pass them: an int (a long
to the kernel), None (NULL), bytes (a read-only pointer), bytearray (a writable pointer: a
struct the kernel fills in). It goes through `bastion._sys._native` (built by scripts/setup
from `_native.c`) where that is importable: `import ctypes` costs ~2-3 ms of a process, the
biggest import of bastion-runc's `create`, and the start path needs nothing else from it.
Without the extension (or with BASTION_TEST_NO_NATIVE=1, which the tests use to exercise the
fallback) the same call goes through ctypes. The wrappers that call libc functions (`libc`,
`check`, `fail`) load ctypes when first used.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ctypes
    from collections.abc import Callable
    from typing import Any

# x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl), called through `syscall`:
# glibc 2.36 has no wrapper for some, and the others' wrappers need ctypes.
SYS_IOCTL = 16
SYS_CAPGET = 125
SYS_CAPSET = 126
SYS_PIVOT_ROOT = 155
SYS_PRCTL = 157
SYS_MOUNT = 165
SYS_UMOUNT2 = 166
SYS_SETHOSTNAME = 170
SYS_SETDOMAINNAME = 171
SYS_UNSHARE = 272
SYS_PRLIMIT64 = 302
SYS_SETNS = 308
SYS_PIDFD_SEND_SIGNAL = 424
SYS_CLONE3 = 435
SYS_OPENAT2 = 437

#: Set (to anything) to make `syscall` and clone3 use ctypes although the extension is built.
NO_NATIVE_ENV = "BASTION_TEST_NO_NATIVE"


def _native_module() -> Any:
    if os.environ.get(NO_NATIVE_ENV):
        return None
    try:
        from bastion._sys import _native  # type: ignore[attr-defined]
    except ImportError:  # not built (scripts/setup builds it): ctypes does the same
        return None
    return _native


#: The extension module, or None: `syscall` then goes through ctypes (clone.py asks too).
native = _native_module()
#: "native" or "ctypes": the backend of `syscall` and clone3 in this process (for tests).
BACKEND = "ctypes" if native is None else "native"


def __getattr__(name: str) -> Any:
    # `libc`, the ctypes handle of the C library, loads ctypes only for the wrappers that use it
    if name == "libc":
        return _ctypes_libc()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_LIBC: list[ctypes.CDLL] = []


def _ctypes_libc() -> ctypes.CDLL:
    if not _LIBC:
        import ctypes

        lib = ctypes.CDLL(None, use_errno=True)
        lib.syscall.restype = ctypes.c_long
        _LIBC.append(lib)
    return _LIBC[0]


def fail(what: str, path: str | None = None) -> OSError:
    """An OSError for the errno the last libc call (through `libc`) left, saying what was
    attempted."""
    import ctypes

    err = ctypes.get_errno()
    return OSError(err, f"{what}: {os.strerror(err)}", path)


def check(result: int, what: str, path: str | None = None) -> int:
    """Raise `fail(what, path)` when a libc call returned -1; else return its result."""
    if result == -1:
        raise fail(what, path)
    return result


def syscall(
    number: int, *args: int | bytes | bytearray | None, what: str, path: str | None = None
) -> int:
    """Call a raw syscall by number; errors become OSError (its subclass for the errno) naming
    `what` and `path`."""
    try:
        result: int = _raw_syscall(number, *args)
    except OSError as exc:
        err = exc.errno or 0
        raise OSError(err, f"{what}: {os.strerror(err)}", path) from None
    return result


def _ctypes_syscall(number: int, *args: int | bytes | bytearray | None) -> int:
    """`_native.syscall` through ctypes: the same arguments, the same OSError on -1."""
    import ctypes

    def word(arg: int | bytes | bytearray | None) -> object:
        if isinstance(arg, int):
            return ctypes.c_long(arg if arg < 1 << 63 else arg - (1 << 64))
        if isinstance(arg, bytearray):  # writable: the kernel fills it in place
            return (ctypes.c_char * len(arg)).from_buffer(arg)
        return arg  # bytes: char *; None: NULL

    result: int = _ctypes_libc().syscall(ctypes.c_long(number), *[word(a) for a in args])
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


_raw_syscall: Callable[..., int] = _ctypes_syscall if native is None else native.syscall


def cstr(value: str | None) -> bytes | None:
    return None if value is None else os.fsencode(value)
