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

#: A device's `type` -> its file type bits for mknod
NODE_TYPES = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}

#: (path, type, major, minor, mode, uid, gid, where in the config)
Node = tuple[str, str, int, int, int, int, int, str]


def create_devices(root: Root, spec: Spec) -> None:
    in_userns = in_user_namespace()
    for path, kind, major, minor, mode, uid, gid, where in device_nodes(spec):
        _make_node(root, path, kind, major, minor, mode, uid, gid, in_userns, where)


def device_nodes(spec: Spec) -> list[Node]:
    """The default devices the config does not list itself, then `linux.devices` (also what the
    compiled init's plan makes: plan.py)."""
    linux = spec.linux
    configured = {d.path for d in linux.devices} if linux else set()
    nodes: list[Node] = [
        (path, kind, major, minor, 0o666, 0, 0, path)
        for path, kind, major, minor in DEFAULT_DEVICES
        if path not in configured
    ]
    for index, dev in enumerate(linux.devices if linux else ()):
        mode = 0o666 if dev.file_mode is None else dev.file_mode
        where = f"linux.devices[{index}]"
        major, minor = dev.major or 0, dev.minor or 0
        nodes.append((dev.path, dev.type, major, minor, mode, dev.uid or 0, dev.gid or 0, where))
    return nodes


def dev_links() -> list[tuple[str, str]]:
    """(target, name) of the links in /dev (runc's), but pts/ptmx, which needs a devpts."""
    links = [
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ]
    if os.path.exists("/proc/kcore"):  # the host's /proc: the init's is the same before pivot
        links.append(("/proc/kcore", "core"))
    return links


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
                name, NODE_TYPES[kind] | (mode & 0o7777), os.makedev(major, minor), dir_fd=parent_fd
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


def in_user_namespace() -> bool:
    try:
        with open("/proc/self/uid_map", "rb") as f:
            first = f.read().split()
    except OSError:
        return False
    return first[:3] != [b"0", b"0", b"4294967295"]
