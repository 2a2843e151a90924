"""memory controller, what v1 and v2 share: the check before an update lowers the limit.

With `checkBeforeUpdate`, a limit at or below what the cgroup uses now is refused before
anything is written (runc's fs/memory.go and fs2's CheckMemoryUsage): lowering it would make the
kernel reclaim, or OOM-kill, inside a running container. The usage file is the driver's:
memory.usage_in_bytes on v1, memory.current on v2.
"""

from __future__ import annotations

from bastion.runtime.cgroups import files
from bastion.runtime.cgroups.errors import CgroupMemoryBelowUsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import LinuxMemory


def check_before_update(directory: str, mem: LinuxMemory, usage_file: str) -> None:
    """Raise `CgroupMemoryBelowUsageError` if `mem` asks for that check and its limit is not
    above the usage read from `usage_file` of the cgroup `directory`."""
    limit = mem.limit or 0
    if not mem.check_before_update or limit <= 0:
        return
    usage = files.read_int(f"{directory}/{usage_file}") or 0
    if usage >= limit:
        raise CgroupMemoryBelowUsageError(
            f"rejecting memory limit {limit} below current usage {usage}",
            where="linux.resources.memory.limit",
        )
