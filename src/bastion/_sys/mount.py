"""mount(2), umount2(2), pivot_root(2) and openat2(2) with RESOLVE_IN_ROOT."""

from __future__ import annotations

import _struct as struct  # the built-in module: `struct` is a file to find on sys.path (~1 ms)

from bastion._sys.libc import SYS_MOUNT, SYS_OPENAT2, SYS_PIVOT_ROOT, SYS_UMOUNT2, cstr, syscall

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_UNBINDABLE = 1 << 17
MNT_DETACH = 2

RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10


# struct open_how {u64 flags, mode, resolve;}
_OPEN_HOW = struct.Struct("=3Q")


def mount(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None
) -> None:
    syscall(
        SYS_MOUNT,
        cstr(source),
        cstr(target),
        cstr(fstype),
        flags,
        cstr(data),
        what=mount_call(source, target, fstype, flags, data),
        path=target,
    )


def mount_call(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None
) -> str:
    """How a failed `mount` names its call (also for the compiled init's: runtime/init/plan.py)."""
    return f"mount({source!r} -> {target!r}, type={fstype!r}, flags=0x{flags:x}, data={data!r})"


def umount2(target: str, flags: int = 0) -> None:
    syscall(SYS_UMOUNT2, cstr(target), flags, what=f"umount2({target!r})", path=target)


def pivot_root(new_root: str, put_old: str) -> None:
    syscall(SYS_PIVOT_ROOT, cstr(new_root), cstr(put_old), what="pivot_root", path=new_root)


def openat2(dirfd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    """openat2(2): open `path` relative to `dirfd` with RESOLVE_* rules enforced by the kernel."""
    return syscall(
        SYS_OPENAT2,
        dirfd,
        cstr(path),
        _OPEN_HOW.pack(flags, mode, resolve),
        _OPEN_HOW.size,
        what=f"openat2({path!r})",
        path=path,
    )
