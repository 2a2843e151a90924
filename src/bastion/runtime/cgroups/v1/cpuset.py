"""v1 cpuset controller: cpuset.cpus and cpuset.mems.

A new v1 cpuset cgroup starts with empty cpus and mems, and adding a task to it then fails with
ENOSPC. So, as runc's `cpusetEnsureParent`/`cpusetCopyIfNeeded` do, `inherit` fills every level
from the hierarchy root down to the leaf (our "/bastion" parent included) with its parent's values
when they are empty. Values set in the resources are written afterwards by `apply`.
"""

from __future__ import annotations

from bastion.runtime.cgroups import files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import LinuxResources

NAME = "cpuset"
_KNOBS = ("cpuset.cpus", "cpuset.mems")


def wanted(resources: LinuxResources) -> bool:
    """Whether `resources` pins CPUs or memory nodes."""
    cpu = resources.cpu
    return cpu is not None and bool(cpu.cpus or cpu.mems)


def inherit(mount: str, path: str) -> None:
    """Copy empty cpus/mems from parent to child for each level of `path` under `mount`."""
    parent = mount.rstrip("/")
    for part in path.strip("/").split("/"):
        current = f"{parent}/{part}"
        for knob in _KNOBS:
            if not files.read(f"{current}/{knob}").strip():
                files.write(f"{current}/{knob}", files.read(f"{parent}/{knob}").strip())
        parent = current


def apply(directory: str, resources: LinuxResources) -> None:
    """Write the cpus and mems of `resources` into the cgroup `directory`."""
    cpu = resources.cpu
    if cpu is None:
        return
    if cpu.cpus:
        files.write(f"{directory}/cpuset.cpus", cpu.cpus)
    if cpu.mems:
        files.write(f"{directory}/cpuset.mems", cpu.mems)
