"""unshare(2) and setns(2): Python 3.11 has neither in `os`."""

from __future__ import annotations

from bastion._sys.libc import SYS_IOCTL, SYS_SETNS, SYS_UNSHARE, syscall

# ioctl on a namespace fd: which type is it (linux/nsfs.h NS_GET_NSTYPE = _IO(0xb7, 0x3)).
_NS_GET_NSTYPE = 0xB703


def unshare(flags: int) -> None:
    syscall(SYS_UNSHARE, flags, what=f"unshare(0x{flags:x})")


def setns(fd: int, nstype: int, path: str | None = None) -> None:
    """Join the namespace `fd`; the kernel refuses (EINVAL) when its type is not `nstype`."""
    syscall(SYS_SETNS, fd, nstype, what=f"setns(type 0x{nstype:x})", path=path)


def nstype(fd: int, path: str | None = None) -> int:
    """The CLONE_NEW* type of the namespace file `fd` (NS_GET_NSTYPE)."""
    return syscall(SYS_IOCTL, fd, _NS_GET_NSTYPE, what="ioctl(NS_GET_NSTYPE)", path=path)
