"""Where the host mounts its cgroup hierarchies, read from /proc/self/mountinfo (proc(5)).

A cgroup2 mount at the cgroup root means "unified"; v1 controller mounts under it mean "legacy",
or "hybrid" when a cgroup2 mount (systemd's /sys/fs/cgroup/unified) sits beside them. mountinfo
rather than statfs(2) magic: Python has no `os.statfs`, ctypes lives only in `bastion._sys`, and
mountinfo also says which controllers share a hierarchy (e.g. "cpu,cpuacct").
"""

from __future__ import annotations

from bastion._record import record
from bastion._sys.proc import unescape_mountinfo
from bastion.runtime.cgroups.errors import CgroupError, CgroupNotMountedError

MOUNTINFO = "/proc/self/mountinfo"

# The v1 controllers runc's fs driver knows (libcontainer/cgroups/fs: subsystems).
V1_CONTROLLERS = frozenset(
    {
        "blkio",
        "cpu",
        "cpuacct",
        "cpuset",
        "devices",
        "freezer",
        "hugetlb",
        "memory",
        "misc",
        "net_cls",
        "net_prio",
        "perf_event",
        "pids",
        "rdma",
    }
)


class Mode:
    """The three ways a host can mount cgroups."""

    LEGACY = "legacy"
    HYBRID = "hybrid"
    UNIFIED = "unified"


@record
class Layout:
    """The cgroup mounts under one root: `controllers` maps each mounted v1 controller to its
    hierarchy's mount point; `unified` is the cgroup2 mount point (the root itself if unified)."""

    mode: str
    controllers: dict[str, str]
    unified: str | None


def read_layout(root: str, mountinfo: str = MOUNTINFO) -> Layout:
    """Parse `mountinfo` for the cgroup mounts at or below `root`."""
    root = root.rstrip("/") or "/"
    try:
        with open(mountinfo, encoding="utf-8", errors="surrogateescape") as stream:
            lines = stream.read().splitlines()
    except OSError as exc:
        raise CgroupError(
            f"cannot read the mount table: {exc.strerror}",
            where=mountinfo,
            reference="cgroup-mountinfo-unreadable",
        ) from None
    controllers: dict[str, str] = {}
    unified: str | None = None
    for line in lines:
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        point, fstype = unescape_mountinfo(fields[4]), tail[0]
        if fstype == "cgroup2" and (point == root or point.startswith(root + "/")):
            if unified is None or point == root:
                unified = point
        elif fstype == "cgroup" and point.startswith(root + "/"):
            for option in tail[2].split(","):
                if option in V1_CONTROLLERS or option.startswith("name="):
                    controllers.setdefault(option, point)
    if unified == root:
        return Layout(mode=Mode.UNIFIED, controllers={}, unified=unified)
    if controllers:
        mode = Mode.HYBRID if unified is not None else Mode.LEGACY
        return Layout(mode=mode, controllers=controllers, unified=unified)
    raise CgroupNotMountedError(
        "no cgroup filesystem is mounted here",
        where=root,
        hint="mount cgroup2 (or the v1 controllers) under this directory",
    )
