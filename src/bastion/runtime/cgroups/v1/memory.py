"""v1 memory controller: memory.limit_in_bytes, memory.memsw.limit_in_bytes and friends.

Follows runc's fs/memory.go. The kernel insists that memsw (memory+swap) >= memory at every
moment, so when both change the order matters: raising (the new swap is above the current
limit, or unlimited) writes memsw first; lowering writes the limit first. -1 means unlimited and a
-1 limit without a swap value also lifts swap. `kernel` and `kernelTCP` are ignored as runc does:
the kernel deprecated kmem limits (writes fail on v6.x kernels).
"""

from __future__ import annotations

from bastion.runtime.cgroups import files
from bastion.runtime.cgroups.common.memory import check_before_update
from bastion.runtime.cgroups.errors import CgroupInvalidValueError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import LinuxResources

NAME = "memory"
LIMIT = "memory.limit_in_bytes"
MEMSW = "memory.memsw.limit_in_bytes"
USAGE = "memory.usage_in_bytes"


def wanted(resources: LinuxResources) -> bool:
    """Whether `resources` sets anything this controller writes."""
    mem = resources.memory
    if mem is None:
        return False
    return bool(
        mem.limit
        or mem.reservation
        or mem.swap
        or mem.disable_oom_killer
        or (mem.swappiness is not None and mem.swappiness != -1)
    )


def check(resources: LinuxResources) -> None:
    """Refuse out-of-range values before anything is written."""
    mem = resources.memory
    if mem is None or mem.swappiness is None or mem.swappiness == -1:
        return
    if not 0 <= mem.swappiness <= 100:
        raise CgroupInvalidValueError(
            f"memory swappiness {mem.swappiness} is outside 0-100",
            where="linux.resources.memory.swappiness",
        )


def apply(directory: str, resources: LinuxResources) -> None:
    """Write the memory limits of `resources` into the cgroup `directory`."""
    mem = resources.memory
    if mem is None:
        return
    check_before_update(directory, mem, USAGE)
    limit, swap = mem.limit or 0, mem.swap or 0
    if limit == -1 and swap == 0 and files.exists(f"{directory}/{MEMSW}"):
        swap = -1
    if limit and swap:
        current = files.read_int(f"{directory}/{LIMIT}")
        if swap == -1 or (current is not None and current < swap):
            _write(directory, MEMSW, swap)
            _write(directory, LIMIT, limit)
        else:
            _write(directory, LIMIT, limit)
            _write(directory, MEMSW, swap)
    else:
        _write(directory, LIMIT, limit)
        _write(directory, MEMSW, swap)
    _write(directory, "memory.soft_limit_in_bytes", mem.reservation or 0)
    if mem.disable_oom_killer:
        files.write(f"{directory}/memory.oom_control", "1")
    swappiness = mem.swappiness
    if swappiness is not None and swappiness != -1:
        check(resources)
        files.write(f"{directory}/memory.swappiness", str(swappiness))


def _write(directory: str, name: str, value: int) -> None:
    # 0 means "not set" in runc's resources; leave the file as it is.
    if value:
        files.write(f"{directory}/{name}", str(value))


# The kernel shows "no limit" as PAGE_COUNTER_MAX pages (9223372036854771712 on x86-64).
_NO_LIMIT = 1 << 62


def stats(directory: str) -> dict[str, int | None]:
    """Usage, peak usage, limit (None: unlimited) and OOM kills, as `CgroupStats` fields."""
    limit = files.read_int(f"{directory}/{LIMIT}")
    return {
        "memory_usage": files.read_int(f"{directory}/{USAGE}"),
        "memory_max_usage": files.read_int(f"{directory}/memory.max_usage_in_bytes"),
        "memory_limit": None if limit is None or limit >= _NO_LIMIT else limit,
        "oom_kills": oom_kills(directory),
    }


def oom_kills(directory: str) -> int:
    """The `oom_kill` count of memory.oom_control (Linux 4.13+; 0 before)."""
    return files.read_keyed(f"{directory}/memory.oom_control").get("oom_kill", 0)
