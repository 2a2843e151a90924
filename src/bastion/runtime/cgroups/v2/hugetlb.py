"""v2 hugetlb controller: hugetlb.<size>.max (and .rsvd.max), as runc's fs2/hugetlb.go."""

from __future__ import annotations

from bastion.runtime.cgroups.v1.hugetlb import write_limits

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import LinuxResources

NAME = "hugetlb"


def wanted(resources: LinuxResources) -> bool:
    """Whether `resources` limits huge pages."""
    return bool(resources.hugepage_limits)


def apply(directory: str, resources: LinuxResources) -> None:
    """Write the huge page limits of `resources` into the cgroup `directory`."""
    write_limits(directory, resources, ".max")
