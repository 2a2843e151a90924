"""v2 cpu controller: cpu.weight, cpu.max, cpu.max.burst, cpu.idle.

Follows runc's fs2/cpu.go. cpu.max is "<quota|max> <period>" with the kernel's default period
100000 when only a quota is given. cpu.weight comes from the spec's v1-style shares with runc's
linear formula 1 + (shares - 2) * 9999 / 262142 (runc >= 1.3 switched to a quadratic fit; the
linear one is kept for compatibility with what most deployed runtimes write). Realtime bandwidth
has no v2 file and raises `cgroup-unsupported`.
"""

from __future__ import annotations

from errno import EINVAL

from bastion.runtime.cgroups import files
from bastion.runtime.cgroups.errors import CgroupFileError, CgroupUnsupportedError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import LinuxResources

NAME = "cpu"
DEFAULT_PERIOD = 100000


def wanted(resources: LinuxResources) -> bool:
    """Whether `resources` sets anything this controller writes."""
    cpu = resources.cpu
    if cpu is None:
        return False
    return bool(
        cpu.shares or cpu.quota or cpu.period or cpu.idle is not None or cpu.burst is not None
    )


def check(resources: LinuxResources) -> None:
    """Refuse the realtime settings, which only v1 has."""
    cpu = resources.cpu
    if cpu is not None and (cpu.realtime_runtime or cpu.realtime_period):
        raise CgroupUnsupportedError(
            "cgroup v2 has no realtime CPU bandwidth", where="linux.resources.cpu.realtimeRuntime"
        )


def weight(shares: int) -> int:
    """cpu.weight (1-10000) for v1 cpu.shares (2-262144); 0 stays 0 ("not set")."""
    if shares == 0:
        return 0
    shares = min(max(shares, 2), 262144)
    return 1 + ((shares - 2) * 9999) // 262142


def apply(directory: str, resources: LinuxResources) -> None:
    """Write the CPU settings of `resources` into the cgroup `directory`."""
    cpu = resources.cpu
    if cpu is None:
        return
    if cpu.idle is not None:
        files.write(f"{directory}/cpu.idle", str(cpu.idle))
    if cpu.shares:
        files.write(f"{directory}/cpu.weight", str(weight(cpu.shares)))
    quota, period = cpu.quota or 0, cpu.period or 0
    burst = None
    if cpu.burst is not None:
        try:
            files.write(f"{directory}/cpu.max.burst", str(cpu.burst))
        except CgroupFileError as exc:
            # Above the current quota: EINVAL until the new quota is in (runc does the same).
            if exc.errno != EINVAL or not quota:
                raise
            burst = str(cpu.burst)
    if quota or period:
        text = str(quota) if quota > 0 else "max"
        files.write(f"{directory}/cpu.max", f"{text} {period or DEFAULT_PERIOD}")
        if burst is not None:
            files.write(f"{directory}/cpu.max.burst", burst)


def stats(directory: str) -> dict[str, int | None]:
    """CPU time and throttling from cpu.stat (microseconds there, nanoseconds here)."""
    stat = files.read_keyed(f"{directory}/cpu.stat")

    def ns(key: str) -> int | None:
        value = stat.get(key)
        return None if value is None else value * 1000

    return {
        "cpu_usage_ns": ns("usage_usec"),
        "cpu_user_ns": ns("user_usec"),
        "cpu_system_ns": ns("system_usec"),
        "cpu_periods": stat.get("nr_periods"),
        "cpu_throttled_periods": stat.get("nr_throttled"),
        "cpu_throttled_time_ns": ns("throttled_usec"),
    }
