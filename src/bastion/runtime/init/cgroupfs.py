"""The `cgroup` mount type: the container's own cgroups at /sys/fs/cgroup inside it.

Like runc: with a cgroup namespace every hierarchy is mounted fresh (the kernel roots it at the
namespace root, so the container sees only its own subtree); without one, a tmpfs gets a bind of
the container's own cgroup directory per hierarchy. The host's hierarchies are read from
/proc/self/mountinfo, so legacy, hybrid and unified hosts all work.
"""

from __future__ import annotations

import os

from bastion._sys import mount as _m
from bastion.runtime.errors import RuntimeFailure
from bastion.runtime.init.mountpoints import Root, fd_path

_CGROUP_ROOT = "/sys/fs/cgroup"


def host_hierarchies() -> list[tuple[str, str, str, str]]:
    """(mount point, root inside the hierarchy, fstype, super options) of each cgroup mount."""
    found = []
    with open("/proc/self/mountinfo", "rb") as f:
        for raw in f.read().decode().splitlines():
            left, _, right = raw.partition(" - ")
            fields = left.split()
            fstype, _source, super_opts = right.split()[:3]
            if fstype in ("cgroup", "cgroup2") and fields[4].startswith(_CGROUP_ROOT):
                found.append((fields[4], fields[3], fstype, super_opts))
    return found


def mount_cgroups(
    root: Root, destination: str, flags: int, cgroup_path: str, new_cgroupns: bool, where: str
) -> None:
    readonly = flags & _m.MS_RDONLY
    base_flags = _m.MS_NOSUID | _m.MS_NODEV | _m.MS_NOEXEC
    hierarchies = host_hierarchies()
    unified_only = len(hierarchies) == 1 and hierarchies[0][0] == _CGROUP_ROOT
    target = root.make(destination, directory=True)
    try:
        if unified_only:
            _mount_hierarchy(
                fd_path(target),
                _CGROUP_ROOT,
                "cgroup2",
                "",
                cgroup_path,
                new_cgroupns,
                base_flags | readonly,
            )
            _bind_readonly(root, destination, new_cgroupns, base_flags | readonly)
            return
        _m.mount("tmpfs", fd_path(target), "tmpfs", base_flags, "mode=755")
    finally:
        os.close(target)
    for mount_point, _hroot, fstype, super_opts in hierarchies:
        name = os.path.relpath(mount_point, _CGROUP_ROOT)
        sub = root.make(f"{destination}/{name}", directory=True)
        try:
            _mount_hierarchy(
                fd_path(sub),
                mount_point,
                fstype,
                super_opts,
                cgroup_path,
                new_cgroupns,
                base_flags | readonly,
            )
        except OSError as exc:
            raise RuntimeFailure(
                f"cannot mount cgroup hierarchy {name}: {exc.strerror}", where=where
            ) from None
        finally:
            os.close(sub)
        _bind_readonly(root, f"{destination}/{name}", new_cgroupns, base_flags | readonly)
    # The host's compatibility links (cpu -> cpu,cpuacct ...).
    for entry in os.listdir(_CGROUP_ROOT):
        host = os.path.join(_CGROUP_ROOT, entry)
        if os.path.islink(host):
            parent = root.open(destination)
            try:
                os.symlink(os.readlink(host), entry, dir_fd=parent)
            except FileExistsError:
                pass
            finally:
                os.close(parent)
    if readonly:
        top = root.open(destination)
        try:
            _m.mount(
                None, fd_path(top), None, _m.MS_REMOUNT | base_flags | _m.MS_RDONLY, "mode=755"
            )
        finally:
            os.close(top)


def _mount_hierarchy(
    target: str,
    mount_point: str,
    fstype: str,
    super_opts: str,
    cgroup_path: str,
    new_cgroupns: bool,
    flags: int,
) -> None:
    if new_cgroupns:
        # nsdelegate is only accepted in the initial cgroup namespace.
        dropped = ("rw", "ro", "nsdelegate")
        options = ",".join(o for o in super_opts.split(",") if o not in dropped) or None
        _m.mount(fstype, target, fstype, flags, options)
        return
    source = mount_point + cgroup_path if os.path.isdir(mount_point + cgroup_path) else mount_point
    _m.mount(source, target, None, _m.MS_BIND | _m.MS_REC)


def _bind_readonly(root: Root, path: str, new_cgroupns: bool, flags: int) -> None:
    """Remount a bind read-only through a fresh descriptor (the old one names what is under it)."""
    if new_cgroupns or not flags & _m.MS_RDONLY:
        return
    top = root.open(path)
    try:
        _m.mount(None, fd_path(top), None, _m.MS_BIND | _m.MS_REMOUNT | flags)
    finally:
        os.close(top)
