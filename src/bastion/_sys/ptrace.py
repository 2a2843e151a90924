"""ptrace(2), only as far as reading a live process's seccomp filters needs it.

The kernel hands a filter's classic-BPF program to a tracer only (PTRACE_SECCOMP_GET_FILTER,
Linux 4.4, CAP_SYS_ADMIN): the tracee must be seized and stopped. PTRACE_SEIZE + PTRACE_INTERRUPT
stop it without a signal it could see; PTRACE_DETACH lets it go on. A sleeping syscall it was in
is restarted by the kernel, as after any stop, so the tracee does not notice.
"""

from __future__ import annotations

import ctypes
import os

from bastion._sys.libc import check, libc

PTRACE_DETACH = 17
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
PTRACE_SECCOMP_GET_FILTER = 0x420C

_WALL = 0x40000000  # linux/wait.h; the os module does not export it
_SOCK_FILTER_SIZE = 8  # struct sock_filter: u16 code, u8 jt, u8 jf, u32 k

_ptrace = libc.ptrace
_ptrace.restype = ctypes.c_long
_ptrace.argtypes = (ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)


def seccomp_filters(pid: int) -> list[bytes]:
    """The classic-BPF programs of the seccomp filters attached to thread `pid`, the most
    recently attached first (the order the kernel runs them in: every filter runs and the
    action with the highest precedence wins). [] when it has none."""
    what = f"ptrace {pid}"
    check(_ptrace(PTRACE_SEIZE, pid, None, None), f"{what}: seize")
    try:
        check(_ptrace(PTRACE_INTERRUPT, pid, None, None), f"{what}: interrupt")
        os.waitpid(pid, _WALL)  # the tracer may wait for a tracee it did not fork
        programs: list[bytes] = []
        index = 0
        while True:
            count = _ptrace(PTRACE_SECCOMP_GET_FILTER, pid, ctypes.c_void_p(index), None)
            if count < 0:
                err = ctypes.get_errno()
                if err == 2 and index > 0:  # ENOENT: past the oldest filter
                    break
                if err in (2, 22) and index == 0:  # no filter at all (EINVAL: mode is not 2)
                    break
                raise OSError(err, f"{what}: get seccomp filter {index}: {os.strerror(err)}")
            buffer = ctypes.create_string_buffer(count * _SOCK_FILTER_SIZE)
            check(
                _ptrace(PTRACE_SECCOMP_GET_FILTER, pid, ctypes.c_void_p(index), buffer),
                f"{what}: get seccomp filter {index}",
            )
            programs.append(buffer.raw)
            index += 1
        return programs
    finally:
        _ptrace(PTRACE_DETACH, pid, None, None)
