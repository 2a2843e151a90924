"""v1 blkio controller: weights and throttling per device.

Follows runc's fs/blkio.go: blkio.weight(_device) when the CFQ files exist, else the BFQ ones
(blkio.bfq.weight(_device)); leaf weights; then the four throttle files, one line per device
("major:minor rate"), in the order given.
"""

from __future__ import annotations

from bastion.runtime.cgroups import files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import LinuxResources

NAME = "blkio"


def wanted(resources: LinuxResources) -> bool:
    """Whether `resources` sets any block I/O weight or throttle."""
    bio = resources.block_io
    if bio is None:
        return False
    return bool(
        bio.weight
        or bio.leaf_weight
        or bio.weight_device
        or bio.throttle_read_bps_device
        or bio.throttle_write_bps_device
        or bio.throttle_read_iops_device
        or bio.throttle_write_iops_device
    )


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
    throttles = (
        ("blkio.throttle.read_bps_device", bio.throttle_read_bps_device),
        ("blkio.throttle.write_bps_device", bio.throttle_write_bps_device),
        ("blkio.throttle.read_iops_device", bio.throttle_read_iops_device),
        ("blkio.throttle.write_iops_device", bio.throttle_write_iops_device),
    )
    for name, devices in throttles:
        for td in devices:
            files.write(f"{directory}/{name}", f"{td.major}:{td.minor} {td.rate}")
