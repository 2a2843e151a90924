"""The new mount API: fsopen(2), fsconfig(2), fsmount(2) and move_mount(2) (Linux >= 5.2).

bastion uses it for overlays: `fsconfig(fd, FSCONFIG_SET_STRING, "lowerdir+", path)` adds one
lower layer per call (Linux >= 6.8), so an image's layer count is not bounded by mount(2)'s
one-page option string, and paths need no escaping of `,` or `:`. When a call fails, the
filesystem's own explanation is in the context's message log: `read_messages(fd)`.
"""

from __future__ import annotations

import os

from bastion._sys.libc import cstr, syscall

# x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl)
SYS_MOVE_MOUNT = 429
SYS_FSOPEN = 430
SYS_FSCONFIG = 431
SYS_FSMOUNT = 432

FSOPEN_CLOEXEC = 0x1
FSMOUNT_CLOEXEC = 0x1
FSCONFIG_SET_FLAG = 0
FSCONFIG_SET_STRING = 1
FSCONFIG_CMD_CREATE = 6
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOVE_MOUNT_F_EMPTY_PATH = 0x4
AT_FDCWD = -100


def fsopen(fstype: str) -> int:
    """A filesystem context for `fstype` (close-on-exec)."""
    return syscall(SYS_FSOPEN, cstr(fstype), FSOPEN_CLOEXEC, what=f"fsopen({fstype!r})")


def fsconfig_string(fd: int, key: str, value: str) -> None:
    syscall(
        SYS_FSCONFIG,
        fd,
        FSCONFIG_SET_STRING,
        cstr(key),
        cstr(value),
        0,
        what=f"fsconfig({key}={value!r})",
        path=value,
    )


def fsconfig_flag(fd: int, key: str) -> None:
    syscall(SYS_FSCONFIG, fd, FSCONFIG_SET_FLAG, cstr(key), None, 0, what=f"fsconfig({key})")


def fsconfig_create(fd: int) -> None:
    """Create the superblock from the parameters set so far."""
    syscall(SYS_FSCONFIG, fd, FSCONFIG_CMD_CREATE, None, None, 0, what="fsconfig(create)")


def fsmount(fd: int, attr_flags: int = 0) -> int:
    """A detached mount of the created superblock (close-on-exec)."""
    return syscall(SYS_FSMOUNT, fd, FSMOUNT_CLOEXEC, attr_flags, what="fsmount")


def move_mount(mount_fd: int, target: str) -> None:
    """Attach the detached mount `mount_fd` at `target`."""
    syscall(
        SYS_MOVE_MOUNT,
        mount_fd,
        b"",
        AT_FDCWD,
        cstr(target),
        MOVE_MOUNT_F_EMPTY_PATH,
        what=f"move_mount(-> {target!r})",
        path=target,
    )


def read_messages(fd: int) -> list[str]:
    """The messages a filesystem context logged ("e overlay: ..."), oldest first."""
    messages = []
    while True:
        try:
            data = os.read(fd, 1024)
        except OSError:  # ENODATA: the log is empty
            break
        if not data:
            break
        messages.append(data.decode(errors="replace").rstrip("\n"))
    return messages
