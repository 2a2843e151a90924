"""Capability sets: capget/capset(2) (version 3, 64-bit sets), bounding and ambient sets."""

from __future__ import annotations

import _struct as struct  # the built-in module: `struct` is a file to find on sys.path (~1 ms)

from bastion._sys.libc import SYS_CAPGET, SYS_CAPSET, syscall
from bastion._sys.prctl import (
    PR_CAP_AMBIENT,
    PR_CAP_AMBIENT_CLEAR_ALL,
    PR_CAP_AMBIENT_RAISE,
    PR_CAPBSET_DROP,
    PR_CAPBSET_READ,
    prctl,
)

_LINUX_CAPABILITY_VERSION_3 = 0x20080522


# struct __user_cap_header_struct {u32 version; int pid;} (pid 0: the calling thread)
_HEADER = struct.pack("=Ii", _LINUX_CAPABILITY_VERSION_3, 0)
# two struct __user_cap_data_struct {u32 effective, permitted, inheritable;}: the low 32
# capabilities, then the high ones
_DATA = struct.Struct("=6I")


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set the calling thread's effective, permitted and inheritable sets (bit masks)."""
    low, high = 0xFFFFFFFF, 32
    data = _DATA.pack(
        effective & low,
        permitted & low,
        inheritable & low,
        (effective >> high) & low,
        (permitted >> high) & low,
        (inheritable >> high) & low,
    )
    syscall(SYS_CAPSET, _HEADER, data, what="capset")


def capget() -> tuple[int, int, int]:
    """The calling thread's (effective, permitted, inheritable) sets."""
    data = bytearray(_DATA.size)
    # the kernel may write its preferred version into the header: give it a copy
    syscall(SYS_CAPGET, bytearray(_HEADER), data, what="capget")
    eff0, perm0, inh0, eff1, perm1, inh1 = _DATA.unpack(data)
    return eff0 | (eff1 << 32), perm0 | (perm1 << 32), inh0 | (inh1 << 32)


_last_cap: list[int] = []  # the kernel's value never changes while it runs: read it once


def last_cap() -> int:
    """The highest capability number this kernel knows (read once: the init asks ~5 times,
    and each open of a /proc file costs ~0.1-0.3 ms of its start-up)."""
    if not _last_cap:
        with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
            _last_cap.append(int(f.read()))
    return _last_cap[0]


def bounding_has(cap: int) -> bool:
    return prctl(PR_CAPBSET_READ, cap, what="PR_CAPBSET_READ") == 1


def bounding_drop(cap: int) -> None:
    prctl(PR_CAPBSET_DROP, cap, what=f"PR_CAPBSET_DROP({cap})")


def ambient_clear() -> None:
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, what="PR_CAP_AMBIENT_CLEAR_ALL")


def ambient_raise(cap: int) -> None:
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, what=f"PR_CAP_AMBIENT_RAISE({cap})")
