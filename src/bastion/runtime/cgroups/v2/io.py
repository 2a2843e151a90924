"""v2 io controller: io.bfq.weight or io.weight, and io.max throttles.

Follows runc's fs2/io.go. The spec's blkio weight (10-1000) goes to io.bfq.weight as is when the
BFQ scheduler offers it, else to io.weight converted linearly to 1-10000 (1 + (w - 10) * 9999 /
990). Per-device weights go to io.bfq.weight when it takes "major:minor weight" lines (Linux 5.4+),
else to io.weight the same way converted. Each throttle is one io.max write,
"major:minor rbps=N" (wbps, riops, wiops). Leaf weights have no v2 equivalent and are ignored,
as runc does.
"""

from __future__ import annotations

from bastion.runtime.cgroups import files
from bastion.runtime.cgroups.common import blockio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import LinuxResources

NAME = "io"


#: The io.max key of each throttle kind of `blockio.throttles`.
_IO_MAX_KEYS = {
    "read_bps": "rbps",
    "write_bps": "wbps",
    "read_iops": "riops",
    "write_iops": "wiops",
}


def wanted(resources: LinuxResources) -> bool:
    """Whether `resources` sets any block I/O weight or throttle (leaf weights aside)."""
    return blockio.wanted(resources, leaf_weights=False)


def io_weight(blkio_weight: int) -> int:
    """io.weight (1-10000) for a blkio weight (10-1000)."""
    return 1 + (blkio_weight - 10) * 9999 // 990


def apply(directory: str, resources: LinuxResources) -> None:
    """Write the block I/O settings of `resources` into the cgroup `directory`."""
    bio = resources.block_io
    if bio is None:
        return
    bfq_path = f"{directory}/io.bfq.weight"
    bfq = files.read_optional(bfq_path) if bio.weight or bio.weight_device else None
    if bio.weight:
        if bfq is not None:
            files.write(bfq_path, str(bio.weight))
        else:
            files.write(f"{directory}/io.weight", str(io_weight(bio.weight)))
    # An io.bfq.weight that reads back as a bare number predates per-device weights.
    bfq_per_device = bfq is not None and not bfq.isdigit()
    for wd in bio.weight_device:
        if not wd.weight:
            continue
        if bfq_per_device:
            files.write(bfq_path, f"{wd.major}:{wd.minor} {wd.weight}")
        else:
            files.write(f"{directory}/io.weight", f"{wd.major}:{wd.minor} {io_weight(wd.weight)}")
    for kind, devices in blockio.throttles(bio):
        key = _IO_MAX_KEYS[kind]
        for td in devices:
            files.write(f"{directory}/io.max", f"{td.major}:{td.minor} {key}={td.rate}")
