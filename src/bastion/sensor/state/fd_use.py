"""Which events act on an fd: libscap's ``EF_USES_FD`` / ``EF_CREATES_FD`` / ``EF_DESTROYS_FD``.

libsinsp attaches an fd to an event only when its event-table entry carries one of these flags
(falcosecurity/libs `driver/event_table.c`, as of libs 0.17+: ``mmap``/``mmap2`` and the
``*at`` calls were flagged then). Every other event, even one with an ``fd`` parameter (e.g.
``munmap``'s neighbours, ``epoll_wait``, ``poll``), has no fd: its ``fd.*`` fields are
unreadable. The sets are by Falco event name; the direction split matters for a few events
whose enter side carries no fd (the ``*at`` calls, ``setsockopt``...).
"""

from __future__ import annotations

from collections.abc import Mapping

from bastion.sensor.events.model import Direction, ParamSpec, ParamType

# EF_USES_FD on both the enter and the exit event.
_USES_BOTH = frozenset(
    {
        "bind", "close", "connect", "copy_file_range", "dup", "dup2", "dup3", "fchdir", "fcntl",
        "flock", "fstat", "getdents", "getdents64", "ioctl", "listen", "llseek", "lseek",
        "mmap", "mmap2", "pread", "preadv", "pwrite", "pwritev", "read", "readv", "recv",
        "recvfrom", "recvmsg", "send", "sendfile", "sendmsg", "sendto", "setns", "shutdown",
        "splice", "write", "writev",
    }
)  # fmt: skip
# EF_USES_FD on the exit event only (the enter side has no fd parameter).
_USES_EXIT = frozenset(
    {
        "fchmod", "fchmodat", "fchown", "fchownat", "finit_module", "fsconfig", "getsockopt",
        "io_uring_enter", "io_uring_register", "mkdirat", "mknodat", "newfstatat", "recvmmsg",
        "sendmmsg", "setsockopt", "symlinkat", "unlinkat",
    }
)  # fmt: skip
_USES_ENTER = frozenset({"fstat64"})
# EF_CREATES_FD: the exit event's fd is the one the call made (its handler sets it).
CREATES_FD = frozenset(
    {
        "accept", "accept4", "bpf", "creat", "dup", "dup2", "dup3", "epoll_create",
        "epoll_create1", "eventfd", "eventfd2", "inotify_init", "inotify_init1",
        "io_uring_setup", "memfd_create", "open", "open_by_handle_at", "openat", "openat2",
        "pidfd_getfd", "pidfd_open", "pipe", "pipe2", "signalfd", "signalfd4", "socket",
        "socketpair", "timerfd_create", "userfaultfd",
    }
)  # fmt: skip

_FD_TYPES = frozenset({ParamType.FD})


def uses_fd(kind: str, direction: str) -> bool:
    """True when libsinsp reads this event's fd from its parameters (``EF_USES_FD``)."""
    if kind in _USES_BOTH:
        return True
    return kind in (_USES_EXIT if direction == Direction.EXIT else _USES_ENTER)


def acts_on_fd(kind: str, direction: str) -> bool:
    """True when the event has an fd at all for Falco's ``fd.*`` fields (libsinsp's
    ``extract_fd`` gate: uses, creates or destroys one)."""
    return uses_fd(kind, direction) or kind in CREATES_FD


def fd_param(params: Mapping[str, object], specs: Mapping[str, ParamSpec]) -> int | None:
    """The fd number an fd-using event names: its first ``PT_FD`` parameter (``fd``, or
    ``dirfd`` for the ``*at`` calls, as libsinsp's fd locations say), None without one."""
    value = params.get("fd")
    if isinstance(value, int):
        return value
    for name, spec in specs.items():
        if spec.type in _FD_TYPES and name != "res":
            found = params.get(name)
            if isinstance(found, int):
                return found
    return None
