"""v2 hugetlb controller: hugetlb.<size>.max (and .rsvd.max when the kernel has it)."""

from __future__ import annotations

from bastion.runtime.cgroups.common.hugetlb import NAME as NAME
from bastion.runtime.cgroups.common.hugetlb import V2_SUFFIX, write_limits
from bastion.runtime.cgroups.common.hugetlb import wanted as wanted

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import LinuxResources


def apply(directory: str, resources: LinuxResources) -> None:
    """Write the huge page limits of `resources` into the cgroup `directory`."""
    write_limits(directory, resources, V2_SUFFIX)
