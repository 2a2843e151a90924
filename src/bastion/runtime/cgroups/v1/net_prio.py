"""v1 net_prio controller: net_prio.ifpriomap, one "interface priority" line per write."""

from __future__ import annotations

from bastion.runtime.cgroups import files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import LinuxResources

NAME = "net_prio"


def wanted(resources: LinuxResources) -> bool:
    """Whether `resources` sets interface priorities."""
    return resources.network is not None and bool(resources.network.priorities)


def apply(directory: str, resources: LinuxResources) -> None:
    """Write each interface priority into the cgroup `directory`."""
    if resources.network is None:
        return
    for prio in resources.network.priorities:
        files.write(f"{directory}/net_prio.ifpriomap", f"{prio.name} {prio.priority}")
