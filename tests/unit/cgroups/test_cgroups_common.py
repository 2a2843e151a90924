"""What the v1 and v2 drivers share (cgroups/common): which block I/O settings each writes."""

from __future__ import annotations

import pytest

from bastion.oci.spec import LinuxBlockIO, LinuxResources, LinuxThrottleDevice
from bastion.runtime.cgroups.v1 import blkio
from bastion.runtime.cgroups.v2 import io

DEVICE = (LinuxThrottleDevice(major=8, minor=0, rate=1),)


@pytest.mark.parametrize(
    ("bio", "v1", "v2"),
    [
        (None, False, False),
        (LinuxBlockIO(), False, False),
        (LinuxBlockIO(leaf_weight=100), True, False),  # v2 has no leaf weights (runc ignores)
        (LinuxBlockIO(weight=100), True, True),
        (LinuxBlockIO(throttle_read_bps_device=DEVICE), True, True),
        (LinuxBlockIO(throttle_write_bps_device=DEVICE), True, True),
        (LinuxBlockIO(throttle_read_iops_device=DEVICE), True, True),
        (LinuxBlockIO(throttle_write_iops_device=DEVICE), True, True),
    ],
)
def test_block_io_wanted_by_each_driver(bio: LinuxBlockIO | None, v1: bool, v2: bool) -> None:
    resources = LinuxResources(block_io=bio)
    assert (blkio.wanted(resources), io.wanted(resources)) == (v1, v2)
