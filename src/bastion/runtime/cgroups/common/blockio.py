"""The spec's block I/O settings as both drivers read them (v1 blkio, v2 io).

`wanted` says whether there is anything to write; `throttles` lists the four throttles in the
spec's order, each named by a kind ("read_bps", "write_bps", "read_iops", "write_iops") that a
driver turns into its own file (v1 blkio.throttle.<kind>_device) or io.max key (v2 rbps, ...).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import LinuxBlockIO, LinuxResources, LinuxThrottleDevice


def wanted(resources: LinuxResources, *, leaf_weights: bool) -> bool:
    """Whether `resources` sets a weight or a throttle; leaf weights count only for a driver
    that has them (`leaf_weights`: v1 does, v2 ignores them as runc does)."""
    bio = resources.block_io
    if bio is None:
        return False
    leaf = leaf_weights and bool(bio.leaf_weight)
    return leaf or bool(bio.weight or bio.weight_device or any(d for _, d in throttles(bio)))


def throttles(bio: LinuxBlockIO) -> tuple[tuple[str, tuple[LinuxThrottleDevice, ...]], ...]:
    """(kind, devices) for each of the spec's four throttles, in its order."""
    return (
        ("read_bps", bio.throttle_read_bps_device),
        ("write_bps", bio.throttle_write_bps_device),
        ("read_iops", bio.throttle_read_iops_device),
        ("write_iops", bio.throttle_write_iops_device),
    )
