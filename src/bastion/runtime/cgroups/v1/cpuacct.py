"""v1 cpuacct controller: CPU time used (it sets nothing).

cpuacct.usage_user/usage_sys give nanoseconds directly (Linux 4.7+); on older kernels
cpuacct.stat gives USER_HZ ticks, converted like runc's fs/cpuacct.go.
"""

from __future__ import annotations

import os

from bastion.runtime.cgroups import files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import LinuxResources

NAME = "cpuacct"


def wanted(resources: LinuxResources) -> bool:
    """cpuacct has no settings."""
    return False


def apply(directory: str, resources: LinuxResources) -> None:
    """Nothing to write: cpuacct only accounts."""


def stats(directory: str) -> dict[str, int | None]:
    """Total, user and system CPU time in nanoseconds, as `CgroupStats` fields."""
    user = files.read_int(f"{directory}/cpuacct.usage_user")
    system = files.read_int(f"{directory}/cpuacct.usage_sys")
    if user is None or system is None:
        ticks = files.read_keyed(f"{directory}/cpuacct.stat")
        ns_per_tick = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
        user = ticks["user"] * ns_per_tick if "user" in ticks else None
        system = ticks["system"] * ns_per_tick if "system" in ticks else None
    return {
        "cpu_usage_ns": files.read_int(f"{directory}/cpuacct.usage"),
        "cpu_user_ns": user,
        "cpu_system_ns": system,
    }
