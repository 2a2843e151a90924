"""v1 hugetlb controller: hugetlb.<size>.limit_in_bytes (and .rsvd. when the kernel has it)."""

from __future__ import annotations

from bastion.runtime.cgroups.common.hugetlb import NAME as NAME
from bastion.runtime.cgroups.common.hugetlb import V1_SUFFIX, write_limits
from bastion.runtime.cgroups.common.hugetlb import wanted as wanted

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import LinuxResources


def apply(directory: str, resources: LinuxResources) -> None:
    """Write the huge page limits of `resources` into the cgroup `directory`."""
    write_limits(directory, resources, V1_SUFFIX)
