"""/dev contents: the default devices every container gets, plus `linux.devices`.

The defaults are runc's (libcontainer/specconv AllowedDevices that are created): null, zero, full,
random, urandom, tty. In a user namespace mknod is not allowed, so, like runc, we bind-mount the
host's node onto an empty file instead.
"""

from __future__ import annotations

import os
import stat

from bastion._sys import mount as _m
from bastion.runtime.errors import RuntimeFailure
from bastion.runtime.init.mountpoints import Root, fd_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import Spec

# (path, type, major, minor)
DEFAULT_DEVICES: tuple[tuple[str, str, int, int], ...] = (
    ("/dev/null", "c", 1, 3),
    ("/dev/zero", "c", 1, 5),
    ("/dev/full", "c", 1, 7),
    ("/dev/random", "c", 1, 8),
    ("/dev/urandom", "c", 1, 9),
    ("/dev/tty", "c", 5, 0),
)

_KIND = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def create_devices(root: Root, spec: Spec) -> None:
    linux = spec.linux
    in_userns = _in_user_namespace()
    configured = {d.path for d in linux.devices} if linux else set()
    for path, kind, major, minor in DEFAULT_DEVICES:
        if path not in configured:
            _make_node(root, path, kind, major, minor, 0o666, 0, 0, in_userns, path)
    for index, dev in enumerate(linux.devices if linux else ()):
        _make_node(
            root,
            dev.path,
            dev.type,
            dev.major or 0,
            dev.minor or 0,
            0o666 if dev.file_mode is None else dev.file_mode,
            dev.uid or 0,
            dev.gid or 0,
            in_userns,
            f"linux.devices[{index}]",
        )


def _make_node(
    root: Root,
    path: str,
    kind: str,
    major: int,
    minor: int,
    mode: int,
    uid: int,
    gid: int,
    bind: bool,
    where: str,
) -> None:
    parent, _, name = path.rstrip("/").rpartition("/")
    parent_fd = root.make(parent or "/", directory=True)
    try:
        try:
            os.unlink(name, dir_fd=parent_fd)
        except (FileNotFoundError, IsADirectoryError):
            pass
        if bind:
            if kind == "p":
                return
            os.close(
                os.open(name, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644, dir_fd=parent_fd)
            )
            leaf = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)
            try:
                _m.mount(path, fd_path(leaf), None, _m.MS_BIND)
            finally:
                os.close(leaf)
            return
        try:
            os.mknod(
                name, _KIND[kind] | (mode & 0o7777), os.makedev(major, minor), dir_fd=parent_fd
            )
            os.chown(name, uid, gid, dir_fd=parent_fd, follow_symlinks=False)
            # mknod applies the umask; the spec's fileMode is the final mode.
            leaf = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)
            try:
                os.chmod(fd_path(leaf), mode & 0o7777)
            finally:
                os.close(leaf)
        except OSError as exc:
            raise RuntimeFailure(
                f"cannot create device {path!r}: {exc.strerror}", where=where
            ) from None
    finally:
        os.close(parent_fd)


def _in_user_namespace() -> bool:
    try:
        with open("/proc/self/uid_map", "rb") as f:
            first = f.read().split()
    except OSError:
        return False
    return first[:3] != [b"0", b"0", b"4294967295"]
