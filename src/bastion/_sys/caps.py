"""Capability sets: capget/capset(2) (version 3, 64-bit sets), bounding and ambient sets."""

from __future__ import annotations

import ctypes

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


class _Header(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _Data(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set the calling thread's effective, permitted and inheritable sets (bit masks)."""
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    for i in range(2):
        shift = 32 * i
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    syscall(SYS_CAPSET, ctypes.byref(header), data, what="capset")


def capget() -> tuple[int, int, int]:
    """The calling thread's (effective, permitted, inheritable) sets."""
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    syscall(SYS_CAPGET, ctypes.byref(header), data, what="capget")
    eff = data[0].effective | (data[1].effective << 32)
    perm = data[0].permitted | (data[1].permitted << 32)
    inh = data[0].inheritable | (data[1].inheritable << 32)
    return eff, perm, inh


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
