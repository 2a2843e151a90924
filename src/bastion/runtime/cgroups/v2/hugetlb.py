"""v2 hugetlb controller: hugetlb.<size>.max (and .rsvd.max when the kernel has it)."""

from __future__ import annotations

from bastion.runtime.cgroups.common.hugetlb import NAME as NAME
from bastion.runtime.cgroups.common.hugetlb import wanted as wanted
from bastion.runtime.cgroups.common.hugetlb import write_limits

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import LinuxResources


def apply(directory: str, resources: LinuxResources) -> None:
    """Write the huge page limits of `resources` into the cgroup `directory`."""
    write_limits(directory, resources, ".max")
