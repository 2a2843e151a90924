"""pids controller (the same files on v1 and v2): pids.max, pids.current.

The runtime spec's `pids.limit` of 0 or below means no limit: "max" (runc's fs/pids.go and
fs2/pids.go before runtime-spec 1.2.1 made the field optional).
"""

from __future__ import annotations

from bastion.runtime.cgroups import files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import LinuxResources

NAME = "pids"


def wanted(resources: LinuxResources) -> bool:
    """Whether `resources` sets a pids limit."""
    return resources.pids is not None


def limit_text(limit: int) -> str:
    """What pids.max gets for a spec limit."""
    return str(limit) if limit > 0 else "max"


def apply(directory: str, resources: LinuxResources) -> None:
    """Write pids.max into the cgroup `directory`."""
    if resources.pids is not None:
        files.write(f"{directory}/pids.max", limit_text(resources.pids.limit))


def stats(directory: str) -> dict[str, int | None]:
    """Current number of tasks and the limit (None: unlimited), as `CgroupStats` fields."""
    return {
        "pids_current": files.read_int(f"{directory}/pids.current"),
        "pids_limit": files.read_int(f"{directory}/pids.max"),
    }
