"""Absolute paths from a syscall's (dirfd, path) pair, as libsinsp resolves them.

Used by ``evt.abspath*`` and by ``fd.name`` on open-like events that created no fd (a failed
open still names the file it tried). libsinsp (``sinsp_utils::concatenate_paths``) joins a
relative path to the directory of the dirfd, or to the thread's cwd for ``AT_FDCWD``, and
collapses ``.``/``..`` textually (no symlink resolution).
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bastion.sensor.events.model import Event

AT_FDCWD = -100

# event type -> (dirfd param, path param) of the path the event acts on; None: relative to cwd
PATH_PARAMS: dict[str, tuple[str | None, str]] = {
    "open": (None, "name"),
    "creat": (None, "name"),
    "openat": ("dirfd", "name"),
    "openat2": ("dirfd", "name"),
    "execveat": ("dirfd", "pathname"),
    "unlinkat": ("dirfd", "name"),
    "unlink": (None, "path"),
    "mkdirat": ("dirfd", "path"),
    "mkdir": (None, "path"),
    "rmdir": (None, "path"),
    "fchmodat": ("dirfd", "filename"),
    "chmod": (None, "filename"),
    "fchownat": ("dirfd", "pathname"),
    "chown": (None, "path"),
}
# two-path events: (src dirfd, src path), (dst dirfd, dst path)
SRC_PARAMS: dict[str, tuple[str | None, str]] = {
    "renameat": ("olddirfd", "oldpath"),
    "renameat2": ("olddirfd", "oldpath"),
    "rename": (None, "oldpath"),
    "linkat": ("olddir", "oldpath"),
    "link": (None, "oldpath"),
    "symlinkat": (None, "target"),
    "symlink": (None, "target"),
}
DST_PARAMS: dict[str, tuple[str | None, str]] = {
    "renameat": ("newdirfd", "newpath"),
    "renameat2": ("newdirfd", "newpath"),
    "rename": (None, "newpath"),
    "linkat": ("newdir", "newpath"),
    "link": (None, "newpath"),
    "symlinkat": ("linkdirfd", "linkpath"),
    "symlink": (None, "linkpath"),
}


def join(base: str, path: str) -> str:
    """`path` made absolute against `base` and normalised (``//x/../y`` -> ``/y``)."""
    full = path if path.startswith("/") else f"{base.rstrip('/')}/{path}"
    norm = posixpath.normpath(full)
    # posixpath keeps a leading "//" (POSIX allows it to be special); Linux does not
    return "/" + norm.lstrip("/")


def resolve(evt: Event, where: tuple[str | None, str]) -> str | None:
    """The absolute path the event's `where` parameters name, or None if it cannot be known."""
    dirfd_name, path_name = where
    path = evt.params.get(path_name)
    if not isinstance(path, str) or not path:
        return None
    if path.startswith("/"):
        return join("/", path)
    thread = evt.thread
    if thread is None:
        return None
    dirfd = evt.params.get(dirfd_name) if dirfd_name is not None else AT_FDCWD
    if dirfd == AT_FDCWD or dirfd_name is None:
        base = thread.cwd
    elif isinstance(dirfd, int):
        fd = thread.fds.get(dirfd)
        if fd is None or not fd.name:
            return None
        base = fd.name
    else:
        return None
    if not base:
        return None
    return join(base, path)
