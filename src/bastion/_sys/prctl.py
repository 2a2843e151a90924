"""prctl(2) options the runtime uses."""

from __future__ import annotations

import os

from bastion._sys.libc import SYS_PRCTL, syscall

PR_SET_PDEATHSIG = 1
PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4


def prctl(option: int, arg2: int = 0, arg3: int = 0, what: str = "prctl") -> int:
    return syscall(SYS_PRCTL, option, arg2, arg3, 0, 0, what=f"{what} (prctl option {option})")


def set_dumpable(value: bool) -> None:
    prctl(PR_SET_DUMPABLE, int(value), what="PR_SET_DUMPABLE")


def set_child_subreaper() -> None:
    prctl(PR_SET_CHILD_SUBREAPER, 1, what="PR_SET_CHILD_SUBREAPER")


def set_pdeathsig(sig: int) -> None:
    prctl(PR_SET_PDEATHSIG, sig, what="PR_SET_PDEATHSIG")


def set_keepcaps(value: bool) -> None:
    prctl(PR_SET_KEEPCAPS, int(value), what="PR_SET_KEEPCAPS")


def set_no_new_privs() -> None:
    prctl(PR_SET_NO_NEW_PRIVS, 1, what="PR_SET_NO_NEW_PRIVS")


def set_cmdline(title: str) -> None:
    """Make /proc/<pid>/cmdline show `title` instead of this process's command line, the way
    setproctitle(3) does (no privilege needed).

    `title` is written over the original argument area (Python keeps its own copies of argv,
    so nothing reads that memory again), NUL-ended, the rest zeroed, and the area's last byte
    made non-NUL: the kernel then shows the area up to the first NUL, i.e. `title` alone
    (fs/proc/base.c, get_mm_proctitle). Shortening the area instead (PR_SET_MM_ARG_END) would
    need CAP_SYS_RESOURCE. The area is never grown: a longer title is cut. A child made by
    fork inherits it.
    """
    start, end = _area_bounds()
    size = end - start
    if size < 2:
        return
    text = title.encode()[: size - 2] + b"\0"
    _write_area(start, text + bytes(size - len(text) - 1) + b" ")


#: The argument area's bounds, read once: they are fixed at exec (moving them takes
#: PR_SET_MM, which nothing here uses), and a forked child has the same addresses.
_bounds: tuple[int, int] | None = None


def _area_bounds() -> tuple[int, int]:
    global _bounds
    if _bounds is None:
        with open("/proc/self/stat", "rb") as f:
            # proc(5): arg_start and arg_end are fields 48 and 49; the split starts at field 3.
            fields = f.read().rpartition(b")")[2].split()
        _bounds = int(fields[45]), int(fields[46])
    return _bounds


def cmdline_area() -> bytes:
    """This process's argument area as it is now (what `set_cmdline` writes over)."""
    start, end = _area_bounds()
    try:
        fd = os.open("/proc/self/mem", os.O_RDONLY | os.O_CLOEXEC)
        try:
            return os.pread(fd, end - start, start)
        finally:
            os.close(fd)
    except OSError:
        import ctypes

        return ctypes.string_at(start, end - start)


def write_cmdline_area(area: bytes) -> None:
    """Write `area` over this process's argument area (as long as the area, or shorter)."""
    start, end = _area_bounds()
    _write_area(start, area[: end - start])


def _write_area(start: int, area: bytes) -> None:
    # Through /proc/self/mem (a process may always write its own): no ctypes (~2-3 ms to
    # import) on the init's path. Where a kernel forbids that (proc_mem.force_override), ctypes.
    try:
        fd = os.open("/proc/self/mem", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.pwrite(fd, area, start)
        finally:
            os.close(fd)
    except OSError:
        import ctypes

        ctypes.memmove(start, area, len(area))


def get_dumpable() -> bool:
    return bool(prctl(PR_GET_DUMPABLE, what="PR_GET_DUMPABLE"))


def set_name(name: str) -> None:
    syscall(SYS_PRCTL, PR_SET_NAME, name.encode()[:15] + b"\0", 0, 0, 0, what="PR_SET_NAME")
