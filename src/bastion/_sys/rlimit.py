"""setrlimit through prlimit64(2): the `resource` module is a shared object to load, ~0.3-0.5 ms
of the init's start-up, for one call."""

from __future__ import annotations

import _struct as struct  # the built-in module: `struct` is a file to find on sys.path (~1 ms)

from bastion._sys.libc import SYS_PRLIMIT64, syscall

RLIM_INFINITY = (1 << 64) - 1
# struct rlimit64 {u64 rlim_cur, rlim_max;}
_LIMITS = struct.Struct("=QQ")


def setrlimit(resource: int, soft: int, hard: int, name: str = "") -> None:
    """Set the calling process's limit `resource` (RLIMIT_*) to `soft` and `hard`, each at most
    RLIM_INFINITY. OSError: EINVAL when soft exceeds hard, EPERM when raising hard needs
    CAP_SYS_RESOURCE."""
    limits = _LIMITS.pack(soft, hard)
    syscall(SYS_PRLIMIT64, 0, resource, limits, None, what=f"setrlimit({name or resource})")
