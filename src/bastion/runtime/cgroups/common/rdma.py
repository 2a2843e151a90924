"""rdma controller (same file on v1 and v2): one "<device> hca_handle=N hca_object=N" line of
rdma.max per device, as runc's fscommon/rdma.go writes it."""

from __future__ import annotations

from bastion.runtime.cgroups import files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import LinuxResources

NAME = "rdma"


def wanted(resources: LinuxResources) -> bool:
    """Whether `resources` limits any RDMA device."""
    return bool(resources.rdma)


def apply(directory: str, resources: LinuxResources) -> None:
    """Write each device's RDMA limits into the cgroup `directory`."""
    for device, limit in sorted((resources.rdma or {}).items()):
        parts = [device]
        if limit.hca_handles is not None:
            parts.append(f"hca_handle={limit.hca_handles}")
        if limit.hca_objects is not None:
            parts.append(f"hca_object={limit.hca_objects}")
        if len(parts) > 1:
            files.write(f"{directory}/rdma.max", " ".join(parts))
