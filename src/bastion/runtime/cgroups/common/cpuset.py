"""cpuset controller (the same files on v1 and v2): cpuset.cpus and cpuset.mems.

On v2 an empty value means "inherit"; a new v1 cgroup starts empty and refuses tasks until its
values are filled in, which `v1.cpuset.inherit` does when the v1 driver creates the cgroup.
"""

from __future__ import annotations

from bastion.runtime.cgroups import files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import LinuxResources

NAME = "cpuset"


def wanted(resources: LinuxResources) -> bool:
    """Whether `resources` pins CPUs or memory nodes."""
    cpu = resources.cpu
    return cpu is not None and bool(cpu.cpus or cpu.mems)


def apply(directory: str, resources: LinuxResources) -> None:
    """Write the cpus and mems of `resources` into the cgroup `directory`."""
    cpu = resources.cpu
    if cpu is None:
        return
    if cpu.cpus:
        files.write(f"{directory}/cpuset.cpus", cpu.cpus)
    if cpu.mems:
        files.write(f"{directory}/cpuset.mems", cpu.mems)
