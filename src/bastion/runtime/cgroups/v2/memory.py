"""v2 memory controller: memory.max, memory.low, memory.swap.max.

Follows runc's fs2/memory.go. The spec's `swap` is memory+swap (a v1 notion), while v2's
memory.swap.max is swap alone, so it becomes swap - limit, or swap itself when the memory is
unlimited (`swap_max`: runc's ConvertMemorySwapToCgroupV2Value as of runc 1.2.1); -1 is "max".
memory.high has no spec field: set it through `unified`. `disableOOMKiller` and `swappiness`
have no v2 file and raise `cgroup-unsupported`; `kernel`/`kernelTCP` are ignored as on v1.
"""

from __future__ import annotations

from errno import ENOENT

from bastion.runtime.cgroups import files
from bastion.runtime.cgroups.common.memory import check_before_update
from bastion.runtime.cgroups.errors import (
    CgroupFileError,
    CgroupInvalidValueError,
    CgroupUnsupportedError,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import LinuxResources

NAME = "memory"


def wanted(resources: LinuxResources) -> bool:
    """Whether `resources` sets anything this controller writes."""
    mem = resources.memory
    return mem is not None and bool(mem.limit or mem.reservation or mem.swap)


def check(resources: LinuxResources) -> None:
    """Refuse the v1-only memory settings and swap values that cannot convert."""
    mem = resources.memory
    if mem is None:
        return
    if mem.disable_oom_killer:
        raise CgroupUnsupportedError(
            "cgroup v2 cannot disable the OOM killer",
            where="linux.resources.memory.disableOOMKiller",
        )
    if mem.swappiness is not None and mem.swappiness != -1:
        raise CgroupUnsupportedError(
            "cgroup v2 has no per-cgroup swappiness", where="linux.resources.memory.swappiness"
        )
    swap_max(mem.swap or 0, mem.limit or 0)  # raises for values that cannot convert


def swap_max(swap: int, limit: int) -> int:
    """memory.swap.max for a spec memory+swap `swap` and `limit` (0: leave it, -1: max).

    runc's ConvertMemorySwapToCgroupV2Value since runc 1.2.1 (opencontainers/runc#4357), case by
    case and in its order. An unlimited memory with a memory+swap N makes N the swap limit: runc
    1.1 and 1.2.0 refused that ("unable to set swap limit without memory limit"), which runc
    itself called a mistake, since without a memory limit memory+swap is bounded by swap alone.
    """
    if limit == -1 and swap == 0:
        return -1  # "unlimited memory" lifts swap too, as on v1
    if swap in (-1, 0):
        return swap  # "max" and "leave it" as they are
    if limit == -1:
        return swap  # unlimited memory: the memory+swap limit is a swap limit
    if limit == 0:
        raise CgroupInvalidValueError(
            "unable to set swap limit without memory limit",
            where="linux.resources.memory.swap",
            hint="set linux.resources.memory.limit too (memory+swap minus it is the swap limit)",
        )
    if limit < 0:
        raise CgroupInvalidValueError(
            f"invalid memory limit {limit}: -1 (unlimited) is the only negative value",
            where="linux.resources.memory.limit",
        )
    if swap < limit:
        raise CgroupInvalidValueError(
            f"memory+swap {swap} must be at least the memory limit {limit}",
            where="linux.resources.memory.swap",
        )
    return swap - limit


def _text(value: int) -> str:
    return "max" if value == -1 else str(value)


def apply(directory: str, resources: LinuxResources) -> None:
    """Write the memory limits of `resources` into the cgroup `directory`."""
    mem = resources.memory
    if mem is None or not wanted(resources):
        return
    check_before_update(directory, mem, "memory.current")
    limit, swap = mem.limit or 0, mem.swap or 0
    converted = swap_max(swap, limit)
    if converted != 0 or swap > 0:  # swap == limit: disable swap ("0")
        text = _text(converted)
        try:
            files.write(f"{directory}/memory.swap.max", text)
        except CgroupFileError as exc:  # no swap accounting: "max" and "0" are moot
            if exc.errno != ENOENT or text not in ("max", "0"):
                raise
    if limit:
        files.write(f"{directory}/memory.max", _text(limit))
    if mem.reservation:
        files.write(f"{directory}/memory.low", _text(mem.reservation))


def oom_kills(directory: str) -> int:
    """The `oom_kill` count of memory.events."""
    return files.read_keyed(f"{directory}/memory.events").get("oom_kill", 0)


def stats(directory: str) -> dict[str, int | None]:
    """Usage, peak (Linux 5.19+), limit (None: max) and OOM kills, as `CgroupStats` fields."""
    return {
        "memory_usage": files.read_int(f"{directory}/memory.current"),
        "memory_max_usage": files.read_int(f"{directory}/memory.peak"),
        "memory_limit": files.read_int(f"{directory}/memory.max"),
        "oom_kills": oom_kills(directory),
    }
