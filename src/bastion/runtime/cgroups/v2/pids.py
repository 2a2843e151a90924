"""v2 pids controller: pids.max ("max" for a limit of 0 or below, as on v1)."""

from __future__ import annotations

from bastion.runtime.cgroups import files
from bastion.runtime.cgroups.v1.pids import limit_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import LinuxResources

NAME = "pids"


def wanted(resources: LinuxResources) -> bool:
    """Whether `resources` sets a pids limit."""
    return resources.pids is not None


def apply(directory: str, resources: LinuxResources) -> None:
    """Write pids.max into the cgroup `directory`."""
    if resources.pids is not None:
        files.write(f"{directory}/pids.max", limit_text(resources.pids.limit))


def stats(directory: str) -> dict[str, int | None]:
    """Current number of tasks and the limit (None: max), as `CgroupStats` fields."""
    return {
        "pids_current": files.read_int(f"{directory}/pids.current"),
        "pids_limit": files.read_int(f"{directory}/pids.max"),
    }
