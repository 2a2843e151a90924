"""v1 net_cls controller: net_cls.classid (tags the cgroup's packets for tc)."""

from __future__ import annotations

from bastion.runtime.cgroups import files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import LinuxResources

NAME = "net_cls"


def wanted(resources: LinuxResources) -> bool:
    """Whether `resources` sets a class id."""
    return resources.network is not None and resources.network.class_id is not None


def apply(directory: str, resources: LinuxResources) -> None:
    """Write net_cls.classid into the cgroup `directory`."""
    if resources.network is not None and resources.network.class_id is not None:
        files.write(f"{directory}/net_cls.classid", str(resources.network.class_id))
