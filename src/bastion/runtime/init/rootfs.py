"""The container's filesystem: mounts in config order, devices, pivot_root, masked/readonly paths.

Runs in the container's init, in its new mount namespace, before the user process exists. The
order follows runc's prepareRootfs/finalizeRootfs and crun's libcrun_set_mounts:
  propagation of / -> bind rootfs onto itself -> config mounts -> devices -> /dev symlinks
  -> cwd -> pivot_root (or chroot with --no-pivot) -> masked/readonly paths -> read-only root.
"""

from __future__ import annotations

import os

from bastion._sys import mount as _m
from bastion.runtime.errors import RuntimeFailure
from bastion.runtime.init import copyup
from bastion.runtime.init.cgroupfs import mount_cgroups
from bastion.runtime.init.devices import create_devices, dev_links
from bastion.runtime.init.mount_options import parse_options, root_propagation
from bastion.runtime.init.mountpoints import Root, fd_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from bastion.oci.spec import Mount, Spec

# statvfs f_flag bits that equal their MS_* twins; a bind remount must repeat the ones that are
# "locked" (inherited from a less privileged mount namespace) or the kernel refuses with EPERM.
_LOCKED_FLAGS = _m.MS_NOSUID | _m.MS_NODEV | _m.MS_NOEXEC
_READ_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def setup(
    spec: Spec,
    rootfs: str,
    cgroup_path: str,
    new_cgroupns: bool,
    no_pivot: bool,
    before_pivot: Callable[[], None],
    *,
    own_mount_ns: bool = True,
) -> None:
    """Build the container's filesystem view; on return the process's root is the rootfs.

    `before_pivot` runs once every mount is made and before pivot_root (the hooks' moment).
    Without a mount namespace of its own (`own_mount_ns` false: none in the config, as runc
    allows) the mounts land in the host's namespace under the rootfs and the root is entered
    with chroot; `delete` unmounts them (runc leaves them behind)."""
    propagation, late = root_propagation(spec)
    if own_mount_ns:
        # Nothing we mount may propagate back to the host: start from a slave (default) or
        # private copy of the host's mounts (runc: rootfsPropagation defaults to rslave).
        _m.mount(None, "/", None, (_m.MS_SLAVE if late else propagation) | _m.MS_REC)
    # pivot_root needs the new root to be a mount point (and a read-only root a mount to remount).
    _m.mount(rootfs, rootfs, None, _m.MS_BIND | _m.MS_REC)
    root = Root(rootfs)
    try:
        for index, mnt in enumerate(spec.mounts):
            _mount_one(root, mnt, index, cgroup_path, new_cgroupns)
        create_devices(root, spec)
        _dev_symlinks(root)
        if spec.process is not None:
            os.close(root.make(spec.process.cwd, directory=True))
    finally:
        root.close()
    before_pivot()
    if not own_mount_ns:
        _chroot(rootfs)  # pivot_root would move the host's own root
        return
    if no_pivot:
        _move_root(rootfs)
    else:
        _pivot_root(rootfs)
    if late:
        _m.mount(None, "/", None, propagation)


def finalize(spec: Spec) -> None:
    """After pivot_root: masked and read-only paths, then the read-only root (runc's order)."""
    linux = spec.linux
    if linux is not None:
        for path in linux.masked_paths:
            _mask(path)
        for path in linux.readonly_paths:
            _make_readonly(path)
    if spec.root is not None and spec.root.readonly:
        _remount_readonly("/", recursive=False)


def _mount_one(root: Root, mnt: Mount, index: int, cgroup_path: str, new_cgroupns: bool) -> None:
    where = f"mounts[{index}]"
    copy_up = mnt.type == "tmpfs" and "tmpcopyup" in mnt.options
    flags, propagation, data = parse_options(tuple(o for o in mnt.options if o != "tmpcopyup"))
    fstype = mnt.type or ("bind" if flags & _m.MS_BIND else None)
    if fstype == "cgroup" or fstype == "cgroup2":
        mount_cgroups(root, mnt.destination, flags, cgroup_path, new_cgroupns, where)
        return
    is_bind = bool(flags & _m.MS_BIND) or fstype == "bind"
    source = mnt.source or fstype or "none"
    directory = True
    if is_bind:
        flags |= _m.MS_BIND
        if not os.path.exists(source):
            raise RuntimeFailure(f"bind source {source!r} does not exist", where=f"{where}.source")
        directory = os.path.isdir(source)
    try:
        target_fd = root.make(mnt.destination, directory=directory)
    except OSError as exc:
        raise RuntimeFailure(
            f"cannot make mount point {mnt.destination!r}: {exc.strerror}",
            where=f"{where}.destination",
        ) from None
    under = os.open(fd_path(target_fd), _READ_DIR) if copy_up else -1
    try:
        if is_bind:
            _m.mount(source, fd_path(target_fd), None, flags & (_m.MS_BIND | _m.MS_REC))
        else:
            try:
                _m.mount(source, fd_path(target_fd), fstype, flags & ~_m.MS_REMOUNT, data or None)
            except OSError as exc:
                if fstype == "sysfs" or fstype == "mqueue":
                    # Without a new network (or ipc) namespace the kernel refuses a fresh sysfs
                    # (mqueue): runc falls back to bind-mounting the host's, read-only.
                    host = "/sys" if fstype == "sysfs" else "/dev/mqueue"
                    _m.mount(host, fd_path(target_fd), None, _m.MS_BIND | _m.MS_REC)
                    flags |= _m.MS_RDONLY | _m.MS_BIND
                    is_bind = True
                else:
                    raise RuntimeFailure(
                        f"cannot mount {fstype} on {mnt.destination!r}: {exc.strerror}", where=where
                    ) from None
    except BaseException:
        if under >= 0:
            os.close(under)
        raise
    finally:
        os.close(target_fd)
    # Reopen: the old descriptor names the directory *under* the new mount.
    top = root.open(mnt.destination)
    if copy_up:
        _copy_up(under, top)
    try:
        extra = flags & ~(_m.MS_BIND | _m.MS_REC | _m.MS_REMOUNT)
        if is_bind and extra:
            _m.mount(None, fd_path(top), None, _m.MS_BIND | _m.MS_REMOUNT | extra | _locked(top))
        if propagation:
            _m.mount(None, fd_path(top), None, propagation)
    finally:
        os.close(top)


def _copy_up(under: int, top: int) -> None:
    try:
        new = os.open(fd_path(top), _READ_DIR)
        try:
            copyup.copy_tree(under, new)
        finally:
            os.close(new)
    finally:
        os.close(under)


def _locked(fd: int) -> int:
    return os.fstatvfs(fd).f_flag & _LOCKED_FLAGS


def _dev_symlinks(root: Root) -> None:
    links = dev_links()
    if root.exists("/dev/pts/ptmx"):
        links.append(("pts/ptmx", "ptmx"))
    dev = root.make("/dev", directory=True)
    try:
        for target, name in links:
            if name == "ptmx":
                try:
                    os.unlink(name, dir_fd=dev)
                except FileNotFoundError:
                    pass
            try:
                os.symlink(target, name, dir_fd=dev)
            except FileExistsError:
                pass
    finally:
        os.close(dev)


def _pivot_root(rootfs: str) -> None:
    # runc's trick: pivot_root(".", ".") stacks the old root on top of the new one, so no
    # put_old directory is needed inside the rootfs; then detach it.
    old_root = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    new_root = os.open(rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fchdir(new_root)
        _m.pivot_root(".", ".")
        os.fchdir(old_root)
        # Make the old root a slave so unmounting it cannot propagate to the host.
        _m.mount(None, ".", None, _m.MS_SLAVE | _m.MS_REC)
        _m.umount2(".", _m.MNT_DETACH)
    finally:
        os.close(old_root)
        os.close(new_root)
    os.chdir("/")


def _move_root(rootfs: str) -> None:
    # --no-pivot (for ramfs roots): move the rootfs over / and chroot; chdir("/") afterwards so
    # no working directory outside the new root survives (the classic chroot escape).
    os.chdir(rootfs)
    _m.mount(rootfs, "/", None, _m.MS_MOVE)
    os.chroot(".")
    os.chdir("/")


def _chroot(rootfs: str) -> None:
    os.chdir(rootfs)
    os.chroot(".")
    os.chdir("/")


def _mask(path: str) -> None:
    """runtime-spec maskedPaths: make `path` unreadable (an empty read-only tmpfs or /dev/null)."""
    try:
        is_dir = os.path.isdir(path)
        if not os.path.lexists(path):
            return
    except OSError:
        return
    if is_dir:
        _m.mount("tmpfs", path, "tmpfs", _m.MS_RDONLY)
    else:
        _m.mount("/dev/null", path, None, _m.MS_BIND)


def _make_readonly(path: str) -> None:
    if not os.path.lexists(path):
        return
    _m.mount(path, path, None, _m.MS_BIND | _m.MS_REC)
    _remount_readonly(path, recursive=True)


def _remount_readonly(path: str, *, recursive: bool) -> None:
    flags = _m.MS_BIND | _m.MS_REMOUNT | _m.MS_RDONLY | (os.statvfs(path).f_flag & _LOCKED_FLAGS)
    if recursive:
        flags |= _m.MS_REC
    _m.mount(None, path, None, flags)
