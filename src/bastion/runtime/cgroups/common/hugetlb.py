"""hugetlb controller, what v1 and v2 share: hugetlb.<size><suffix> per limit, and the same
value in hugetlb.<size>.rsvd<suffix> when the kernel has it.

Follows runc's fs/hugetlb.go and fs2/hugetlb.go: the reservation limit gets the same value, so
that reserved but not yet faulted pages count too (Linux 5.7+); its absence is not an error.
The suffix is the driver's: `V1_SUFFIX` or `V2_SUFFIX`.
"""

from __future__ import annotations

from errno import ENOENT

from bastion.runtime.cgroups import files
from bastion.runtime.cgroups.errors import CgroupFileError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import LinuxResources

NAME = "hugetlb"
#: The limit file's suffix on each cgroup version.
V1_SUFFIX = ".limit_in_bytes"
V2_SUFFIX = ".max"


def wanted(resources: LinuxResources) -> bool:
    """Whether `resources` limits huge pages."""
    return bool(resources.hugepage_limits)


def write_limits(directory: str, resources: LinuxResources, suffix: str) -> None:
    """hugetlb.<size><suffix> and hugetlb.<size>.rsvd<suffix> for each limit."""
    rsvd = True
    for hp in resources.hugepage_limits:
        prefix, value = f"{directory}/hugetlb.{hp.page_size}", str(hp.limit)
        files.write(prefix + suffix, value)
        if rsvd:
            try:
                files.write(prefix + ".rsvd" + suffix, value)
            except CgroupFileError as exc:
                if exc.errno != ENOENT:
                    raise
                rsvd = False
