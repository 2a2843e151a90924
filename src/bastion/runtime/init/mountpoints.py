"""Resolving paths inside the container's rootfs without ever leaving it.

Every mount destination, device node and created directory is opened with openat2(2)
RESOLVE_IN_ROOT relative to a descriptor of the rootfs: a symlink in the image pointing at
`/etc` or `../../..` resolves inside the rootfs, as if the rootfs were `/` (the class of bugs of
runc CVE-2021-30465). The mount itself then targets `/proc/self/fd/N`, the object we opened,
not a path the container could swap underneath us.
"""

from __future__ import annotations

import errno
import os

from bastion._sys import mount as _m
from bastion.runtime.errors import RuntimeFailure

_RESOLVE = _m.RESOLVE_IN_ROOT | _m.RESOLVE_NO_MAGICLINKS


class Root:
    """An open rootfs directory."""

    __slots__ = ("fd", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def close(self) -> None:
        os.close(self.fd)

    def open(self, path: str, flags: int = os.O_PATH) -> int:
        """Open `path` (absolute inside the container) resolved inside the rootfs."""
        return _m.openat2(self.fd, path.lstrip("/") or ".", flags | os.O_CLOEXEC, _RESOLVE)

    def exists(self, path: str) -> bool:
        try:
            os.close(self.open(path))
        except OSError:
            return False
        return True

    def make(self, path: str, *, directory: bool, mode: int = 0o755) -> int:
        """Open `path`, creating it (and missing parents as directories) inside the rootfs.

        Returns an O_PATH descriptor. A missing leaf is made a directory or an empty file.
        """
        try:
            return self.open(path)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
        parent, _, name = path.rstrip("/").rpartition("/")
        if not name or name in (".", ".."):
            raise RuntimeFailure(f"cannot create {path!r} inside the rootfs", where=path)
        parent_fd = self.make(parent or "/", directory=True)
        try:
            if directory:
                try:
                    os.mkdir(name, mode, dir_fd=parent_fd)
                except FileExistsError:
                    pass
            else:
                flags = os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC
                try:
                    os.close(os.open(name, flags, 0o644, dir_fd=parent_fd))
                except FileExistsError:
                    pass
        finally:
            os.close(parent_fd)
        try:
            return self.open(path)
        except FileNotFoundError:
            # The name exists but resolves nowhere: a dangling symlink in the image. Refuse
            # rather than create its target somewhere we did not choose.
            raise RuntimeFailure(
                f"{path!r} in the rootfs is a dangling symlink",
                where=path,
                reference="mount-destination-dangling-symlink",
            ) from None


def fd_path(fd: int) -> str:
    """A path naming exactly the object behind `fd`, for mount(2) and friends."""
    return f"/proc/self/fd/{fd}"
