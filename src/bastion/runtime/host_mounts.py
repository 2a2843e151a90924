"""Mounts a container without a mount namespace of its own leaves in the host's namespace.

runc performs such a container's mounts (proc, dev, sys... under the rootfs) in the host's mount
namespace and never removes them. bastion records that the container has host mounts and
`delete` (or a failed `create`) detaches every mount at or below the rootfs, deepest first.
"""

from __future__ import annotations

import errno

from bastion._sys import mount as _m
from bastion._sys.proc import unescape_mountinfo


def mounts_under(path: str) -> list[str]:
    """Mount points at or below `path` in our mount namespace, deepest first."""
    prefix = path.rstrip("/") + "/"
    found = []
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f.read().decode(errors="replace").splitlines():
            point = unescape_mountinfo(line.split()[4])
            if point == path.rstrip("/") or point.startswith(prefix):
                found.append(point)
    return sorted(set(found), key=lambda p: (-p.count("/"), p))


def unmount_under(path: str) -> None:
    for _ in range(8):  # a detached parent can expose mounts stacked below it: look again
        points = mounts_under(path)
        if not points:
            return
        for point in points:
            try:
                _m.umount2(point, _m.MNT_DETACH)
            except OSError as exc:
                if exc.errno not in (errno.EINVAL, errno.ENOENT):
                    raise
