"""clone3(2): a child born inside a cgroup2 directory (CLONE_INTO_CGROUP), in new namespaces.

Moving a process by writing its pid to `cgroup.procs` takes the kernel's
cgroup_threadgroup_rwsem for writing, and the first such write in a burst waits for an RCU grace
period (5-15 ms on this kind of machine, up to 28 ms). A child created by clone3 with
CLONE_INTO_CGROUP starts in the target cgroup instead, with no such wait (Linux 5.7). The same
call can create the child's namespaces (CLONE_NEW*), so a container's init needs no intermediate
process to unshare them first (runtime/create.py).

Python's `os.fork` runs the interpreter's fork hooks around fork(2) (import lock, thread states,
`os.register_at_fork` callbacks); a raw syscall would skip them, so the call runs between the
same C API functions (PyOS_BeforeFork, PyOS_AfterFork_Parent, PyOS_AfterFork_Child), exactly as
`os.fork` does: in the C extension (`_native.clone3`), else through a ctypes handle that keeps
the GIL. glibc's cached thread id of the child is not updated (glibc's raise() asks the kernel
since 2.34, which is what the runtime relies on).
"""

from __future__ import annotations

import os
import struct

from bastion._sys.libc import SYS_CLONE3, native

CLONE_INTO_CGROUP = 0x200000000
_SIGCHLD = 17
# struct clone_args up to `cgroup` (CLONE_ARGS_SIZE_VER2): flags, pidfd, child_tid, parent_tid,
# exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup.
_ARGS = struct.Struct("=11Q")


def fork_into_cgroup(cgroup_fd: int) -> int:
    """fork(2) whose child starts in the cgroup2 directory open at `cgroup_fd`: the child's pid
    in the parent, 0 in the child. OSError (ENOSYS, E2BIG, EINVAL on kernels without it) leaves
    no child behind, so the caller can fall back to `os.fork`."""
    return clone(0, cgroup_fd)


def clone(flags: int, cgroup_fd: int = -1) -> int:
    """fork(2) with clone `flags` (CLONE_NEW* namespaces for the child), into the cgroup2
    directory open at `cgroup_fd` unless it is -1: the child's pid in the parent, 0 in the child.
    OSError leaves no child behind."""
    if cgroup_fd >= 0:
        flags |= CLONE_INTO_CGROUP
    try:
        if native is not None:
            pid: int = native.clone3(flags, cgroup_fd)
        else:
            pid = _ctypes_clone3(flags, max(cgroup_fd, 0))
    except OSError as exc:
        err = exc.errno or 0
        raise OSError(err, f"clone3({flags:#x}): {os.strerror(err)}") from None
    return pid


def _ctypes_clone3(flags: int, cgroup_fd: int) -> int:
    import ctypes

    # Through PyDLL: the GIL stays held across the calls, as the PyOS_* functions require.
    api = ctypes.PyDLL(None, use_errno=True)
    api.syscall.restype = ctypes.c_long
    args = ctypes.create_string_buffer(
        _ARGS.pack(flags, 0, 0, 0, _SIGCHLD, 0, 0, 0, 0, 0, cgroup_fd), _ARGS.size
    )
    api.PyOS_BeforeFork()
    pid: int = api.syscall(ctypes.c_long(SYS_CLONE3), args, ctypes.c_size_t(_ARGS.size))
    if pid == 0:
        api.PyOS_AfterFork_Child()
        return 0
    err = ctypes.get_errno()
    api.PyOS_AfterFork_Parent()
    if pid < 0:
        raise OSError(err, os.strerror(err))
    return pid
