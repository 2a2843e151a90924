"""Device rules on cgroup v2, which needs an eBPF device filter: not yet implemented.

Until that filter exists, v2 cgroups allow every device, so only rules that ask for no more than
that are accepted and ignored: deny-all and allow-all resets (type "a") and allow rules (allowed
anyway). A deny rule for particular devices cannot be honoured and raises `cgroup-unsupported`.
The usual runtime-generated set (deny all, then allow /dev/null, zero, full, tty, random, urandom,
ptmx, pts and friends) passes; on v2 the container's /dev contents and its capabilities (no
CAP_MKNOD) are what keep it from other devices.
"""

from __future__ import annotations

from bastion.runtime.cgroups.errors import CgroupUnsupportedError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import LinuxResources


def check(resources: LinuxResources) -> None:
    """Raise for a device rule the missing eBPF filter would have to enforce."""
    for index, rule in enumerate(resources.devices):
        if not rule.allow and (rule.type or "a") != "a":
            raise CgroupUnsupportedError(
                "denying particular devices on cgroup v2 needs the eBPF device filter, "
                "which bastion does not implement yet",
                where=f"linux.resources.devices[{index}]",
                hint="drop the rule, or run on a host with cgroup v1 devices",
            )
