"""v2 cpuset controller: cpuset.cpus and cpuset.mems (empty means "inherit", unlike v1)."""

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
