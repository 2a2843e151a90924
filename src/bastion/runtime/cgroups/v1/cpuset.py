"""v1 cpuset: fill a new cgroup's empty cpuset.cpus and cpuset.mems from its parent.

A new v1 cpuset cgroup starts with empty cpus and mems, and adding a task to it then fails with
ENOSPC. So, as runc's `cpusetEnsureParent`/`cpusetCopyIfNeeded` do, `inherit` fills every level
from the hierarchy root down to the leaf (our "/bastion" parent included) with its parent's values
when they are empty. Values set in the resources are written afterwards by `common.cpuset`.
"""

from __future__ import annotations

from bastion.runtime.cgroups import files

_KNOBS = ("cpuset.cpus", "cpuset.mems")


def inherit(mount: str, path: str) -> None:
    """Copy empty cpus/mems from parent to child for each level of `path` under `mount`."""
    parent = mount.rstrip("/")
    for part in path.strip("/").split("/"):
        current = f"{parent}/{part}"
        for knob in _KNOBS:
            if not files.read(f"{current}/{knob}").strip():
                files.write(f"{current}/{knob}", files.read(f"{parent}/{knob}").strip())
        parent = current
