"""v1 cpu controller: cpu.shares, CFS period/burst/quota, realtime bandwidth and cpu.idle.

Follows runc's fs/cpu.go: shares are read back because the kernel clamps them silently; a period
(or burst) the kernel rejects with EINVAL while a quota is also being set is retried after the
quota (shrinking the period can exceed the parent's quota until the quota changes). The same
retry applies to rt_period_us before rt_runtime_us.
"""

from __future__ import annotations

from errno import EINVAL, ENOENT

from bastion.runtime.cgroups import files
from bastion.runtime.cgroups.errors import CgroupFileError, CgroupInvalidValueError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import LinuxResources

NAME = "cpu"


def wanted(resources: LinuxResources) -> bool:
    """Whether `resources` sets anything this controller writes."""
    cpu = resources.cpu
    if cpu is None:
        return False
    return bool(
        cpu.shares
        or cpu.quota
        or cpu.period
        or cpu.burst is not None
        or cpu.realtime_runtime
        or cpu.realtime_period
        or cpu.idle is not None
    )


def apply(directory: str, resources: LinuxResources) -> None:
    """Write the CPU settings of `resources` into the cgroup `directory`."""
    cpu = resources.cpu
    if cpu is None:
        return
    if cpu.shares:
        _set_shares(directory, cpu.shares)
    quota = cpu.quota or 0
    period = _deferrable(directory, "cpu.cfs_period_us", cpu.period or 0, quota)
    burst = None
    if cpu.burst is not None:
        try:
            burst = _deferrable(directory, "cpu.cfs_burst_us", cpu.burst, quota, zero_ok=True)
        except CgroupFileError as exc:
            if exc.errno != ENOENT:  # no burst knob before Linux 5.14: ignore, as runc does
                raise
    if quota:
        files.write(f"{directory}/cpu.cfs_quota_us", str(quota))
        if period is not None:
            files.write(f"{directory}/cpu.cfs_period_us", period)
        if burst is not None:
            files.write(f"{directory}/cpu.cfs_burst_us", burst)
    runtime = cpu.realtime_runtime or 0
    rt_period = _deferrable(directory, "cpu.rt_period_us", cpu.realtime_period or 0, runtime)
    if runtime:
        files.write(f"{directory}/cpu.rt_runtime_us", str(runtime))
        if rt_period is not None:
            files.write(f"{directory}/cpu.rt_period_us", rt_period)
    if cpu.idle is not None:
        files.write(f"{directory}/cpu.idle", str(cpu.idle))


def _set_shares(directory: str, shares: int) -> None:
    path = f"{directory}/cpu.shares"
    files.write(path, str(shares))
    actual = files.read_int(path)
    if actual is not None and actual != shares:
        bound = "maximum" if shares > actual else "minimum"
        raise CgroupInvalidValueError(
            f"cpu shares {shares} out of range: the {bound} allowed is {actual}",
            where="linux.resources.cpu.shares",
        )


def _deferrable(
    directory: str, name: str, value: int, then: int, *, zero_ok: bool = False
) -> str | None:
    """Write `value` to `name` now; if the kernel says EINVAL and `then` (the value set next) is
    non-zero, return the text to write again afterwards. None when nothing is left to do."""
    if not value and not zero_ok:
        return None
    text = str(value)
    try:
        files.write(f"{directory}/{name}", text)
    except CgroupFileError as exc:
        if exc.errno != EINVAL or not then:
            raise
        return text
    return None


def stats(directory: str) -> dict[str, int | None]:
    """CFS throttling counters from cpu.stat, as `CgroupStats` fields."""
    stat = files.read_keyed(f"{directory}/cpu.stat")
    return {
        "cpu_periods": stat.get("nr_periods"),
        "cpu_throttled_periods": stat.get("nr_throttled"),
        "cpu_throttled_time_ns": stat.get("throttled_time"),
    }
