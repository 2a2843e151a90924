"""v1 blkio controller: weights and throttling per device.

Follows runc's fs/blkio.go: blkio.weight(_device) when the CFQ files exist, else the BFQ ones
(blkio.bfq.weight(_device)); leaf weights; then the four throttle files, one line per device
("major:minor rate"), in the order given.
"""

from __future__ import annotations

from bastion.runtime.cgroups import files
from bastion.runtime.cgroups.common import blockio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import LinuxResources

NAME = "blkio"


def wanted(resources: LinuxResources) -> bool:
    """Whether `resources` sets any block I/O weight (leaf weights too) or throttle."""
    return blockio.wanted(resources, leaf_weights=True)


def apply(directory: str, resources: LinuxResources) -> None:
    """Write the block I/O settings of `resources` into the cgroup `directory`."""
    bio = resources.block_io
    if bio is None:
        return
    if files.exists(f"{directory}/blkio.weight"):
        weight, weight_device = "blkio.weight", "blkio.weight_device"
    else:
        weight, weight_device = "blkio.bfq.weight", "blkio.bfq.weight_device"
    if bio.weight:
        files.write(f"{directory}/{weight}", str(bio.weight))
    if bio.leaf_weight:
        files.write(f"{directory}/blkio.leaf_weight", str(bio.leaf_weight))
    for wd in bio.weight_device:
        if wd.weight:
            files.write(f"{directory}/{weight_device}", f"{wd.major}:{wd.minor} {wd.weight}")
        if wd.leaf_weight:
            files.write(
                f"{directory}/blkio.leaf_weight_device", f"{wd.major}:{wd.minor} {wd.leaf_weight}"
            )
    for kind, devices in blockio.throttles(bio):
        for td in devices:
            files.write(
                f"{directory}/blkio.throttle.{kind}_device", f"{td.major}:{td.minor} {td.rate}"
            )
