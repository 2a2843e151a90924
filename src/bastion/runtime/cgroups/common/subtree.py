"""Enabling v2 controllers for a cgroup: "+name" in each ancestor's cgroup.subtree_control.

A v2 controller works in a cgroup only if every ancestor, from the hierarchy root down to the
parent, delegates it (cgroup-v2.rst "Enabling and Disabling"). Unlike runc's CreateCgroupPath,
which enables every available controller at creation, only the controllers a resource needs are
enabled, and only where missing: so a cgroup without limits touches no ancestor, the hierarchy
root included (on hybrid hosts that root belongs to the whole machine).
"""

from __future__ import annotations

from bastion.runtime.cgroups import files
from bastion.runtime.cgroups.errors import CgroupUnsupportedError


def available(mount: str) -> set[str]:
    """The controllers the hierarchy mounted at `mount` offers."""
    return set((files.read_optional(f"{mount}/cgroup.controllers") or "").split())


def check(mount: str, wanted: set[str]) -> None:
    """Raise `cgroup-unsupported` unless the hierarchy at `mount` offers all of `wanted`."""
    missing = wanted - available(mount)
    if missing:
        raise CgroupUnsupportedError(
            f"cgroup v2 controllers not available on this host: {' '.join(sorted(missing))}",
            where=f"{mount}/cgroup.controllers",
        )


def enable(mount: str, path: str, wanted: set[str]) -> None:
    """Make the controllers `wanted` usable in cgroup `path` of the hierarchy at `mount`."""
    if not wanted:
        return
    check(mount, wanted)
    current = mount.rstrip("/")
    for part in path.strip("/").split("/"):
        control = f"{current}/cgroup.subtree_control"
        todo = wanted - set(files.read(control).split())
        if todo:
            files.write(control, " ".join("+" + name for name in sorted(todo)))
        current = f"{current}/{part}"
