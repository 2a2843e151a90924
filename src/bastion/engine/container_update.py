"""`update`: change a container's limits and restart policy, as `docker update` does.

A running container's cgroup is changed at once through the runtime (`bastion.runtime.control
.update`, what `bastion-runc update` does: merged over its current limits, put back if the
kernel refuses one); then, running or not, the change is stored in its config.json (so its
next start makes the cgroup with it) and in its record (inspect's HostConfig, the restart
policy). The container's start lock is held throughout: a `start` waits for it.

The rules are moby's (daemon/update.go, container.UpdateContainer, verifyContainerResources):
- memory at least 6 MB; memory+swap (`MemorySwap`) at least memory, -1 for unlimited swap;
  memory above the memory+swap already set needs a new memory+swap too; memory+swap alone needs
  a memory limit, given or set;
- `NanoCpus` (`--cpus`) and `CpuQuota`/`CpuPeriod` exclude each other, given or set; 0 CPUs
  lifts the limit;
- `CpuShares` is clamped as at create; `CpusetCpus` must name online CPUs;
- `PidsLimit` 0 or -1 lifts the limit;
- a restart policy cannot be given to a container made with `--rm`. A running container's
  monitor was started knowing whether it has a policy: a container that had none and gets one
  is restarted by it only after its next start (Docker restarts it at its next exit).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bastion import jsonio
from bastion.engine.errors import InvalidOptionError

if TYPE_CHECKING:
    from bastion.engine.engine import Engine
    from bastion.engine.metadata import ContainerRecord

#: moby's linuxMinMemory
MIN_MEMORY = 6 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceUpdate:
    """What to change; None leaves a value as it is. Bytes for memory, -1 for unlimited swap."""

    memory: int | None = None
    memory_swap: int | None = None
    nano_cpus: int | None = None
    cpu_shares: int | None = None
    cpu_quota: int | None = None
    cpu_period: int | None = None
    cpuset_cpus: str | None = None
    pids_limit: int | None = None
    restart: str | None = None  # as --restart: no, always, unless-stopped, on-failure[:N]


def update(engine: Engine, name_or_id: str, change: ResourceUpdate) -> list[str]:
    """Apply `change` to the container; the runtime's warnings."""
    from bastion.engine.container_files import start_lock
    from bastion.engine.engine import RUNNING
    from bastion.runtime.control import merge_resources

    record = engine._sync(engine.container(name_or_id))
    directory = engine._directory(record.id)
    lock = start_lock(directory, blocking=True)
    assert lock is not None
    try:
        record = engine._get(record.id)  # (not `_sync`: it would wait for this very lock)
        host = dict(record.config.get("host_config") or {})
        resources = resources_of(change, host)
        config = config_with(record, change, host)  # checked before anything changes
        warnings: list[str] = []
        if record.status == RUNNING and resources:
            from bastion.runtime.container import Container
            from bastion.runtime.control import update as update_cgroup

            warnings = update_cgroup(Container.load(engine.runtime_root, record.id), resources)
        spec_path = os.path.join(directory, "config.json")
        with open(spec_path, "rb") as f:
            spec = jsonio.loads(f.read())
        linux = spec.setdefault("linux", {})
        linux["resources"] = merge_resources(linux.get("resources") or {}, resources)[0]
        from bastion.runtime.store import write_atomic

        write_atomic(spec_path, jsonio.dumps(spec).encode())
        engine.metadata.update_container(record.id, config=jsonio.dumps(config))
    finally:
        os.close(lock)
    engine.event_log.container(record, "update")
    return warnings


def resources_of(change: ResourceUpdate, host: dict[str, Any]) -> dict[str, Any]:
    """The LinuxResources document of the change (checked against what is set)."""
    from bastion.engine.host_config import CFS_PERIOD, _online_cpus, shares_and_cpuset

    out: dict[str, Any] = {}
    memory = change.memory or None  # 0: unchanged, as in moby
    swap = change.memory_swap or None
    set_memory, set_swap = host.get("Memory") or 0, host.get("MemorySwap") or 0
    if memory is not None and memory < MIN_MEMORY:
        raise InvalidOptionError("Minimum memory limit allowed is 6MB", where="--memory")
    if memory is not None and swap is None and set_swap > 0 and memory > set_swap:
        raise InvalidOptionError(
            "Memory limit should be smaller than already set memoryswap limit, update the "
            "memoryswap at the same time",
            hint="give --memory-swap too (memory plus swap, or -1 for unlimited swap)",
        )
    if swap is not None:
        limit = memory or set_memory
        if not limit:
            raise InvalidOptionError(
                "You should always set the Memory limit when using Memoryswap limit",
                hint="give --memory too",
            )
        if swap != -1 and swap < limit:
            raise InvalidOptionError(
                "Minimum memoryswap limit should be larger than memory limit",
                hint="--memory-swap is memory plus swap; -1 for unlimited swap",
            )
    if memory is not None or swap is not None:
        out["memory"] = {k: v for k, v in (("limit", memory), ("swap", swap)) if v is not None}
    cpu: dict[str, Any] = {}
    quota_or_period = change.cpu_quota is not None or change.cpu_period is not None
    if change.nano_cpus is not None:
        if quota_or_period or host.get("CpuQuota") or host.get("CpuPeriod"):
            raise InvalidOptionError(
                "Conflicting options: Nano CPUs and CPU Period/Quota cannot both be set",
                hint="give --cpus, or --cpu-quota and --cpu-period, not both",
            )
        online = len(_online_cpus())
        if change.nano_cpus and not 10**7 <= change.nano_cpus <= online * 10**9:
            raise InvalidOptionError(
                f"range of CPUs is from 0.01 to {online}.00, as there are only {online} CPUs "
                "available",
                where="--cpus",
            )
        cpu["period"] = CFS_PERIOD
        cpu["quota"] = change.nano_cpus * CFS_PERIOD // 10**9 if change.nano_cpus else -1
    elif quota_or_period:
        if host.get("NanoCpus"):
            raise InvalidOptionError(
                "Conflicting options: CPU Period/Quota and Nano CPUs cannot both be set",
                hint="lift --cpus first (--cpus 0)",
            )
        if change.cpu_period is not None:
            cpu["period"] = change.cpu_period
        if change.cpu_quota is not None:
            cpu["quota"] = change.cpu_quota
    cpu.update(shares_and_cpuset(change.cpu_shares, change.cpuset_cpus, where="--cpuset-cpus"))
    if cpu:
        out["cpu"] = cpu
    if change.pids_limit is not None:
        out["pids"] = {"limit": change.pids_limit if change.pids_limit > 0 else -1}
    return out


def config_with(
    record: ContainerRecord, change: ResourceUpdate, host: dict[str, Any]
) -> dict[str, Any]:
    """The container's record config with the change: HostConfig's fields as inspect shows
    them, the memory and pids limits, the restart policy."""
    from bastion.engine.restart import RestartPolicy

    config = dict(record.config)
    if change.restart is not None:
        policy = RestartPolicy.parse(change.restart)
        if policy.enabled and config.get("auto_remove"):
            raise InvalidOptionError(
                "Restart policy cannot be updated because AutoRemove is enabled for the container",
                where="--restart",
            )
        config["restart"] = policy.document()
    if change.memory:
        host["Memory"] = config["memory"] = change.memory
    if change.memory_swap:
        host["MemorySwap"] = change.memory_swap
    if change.nano_cpus is not None:
        host["NanoCpus"] = change.nano_cpus
    given = {
        "CpuQuota": change.cpu_quota,
        "CpuPeriod": change.cpu_period,
        "CpuShares": change.cpu_shares or None,
        "CpusetCpus": change.cpuset_cpus or None,
    }
    host.update({field: value for field, value in given.items() if value is not None})
    if change.pids_limit is not None:
        config["pids_limit"] = max(change.pids_limit, 0)
    config["host_config"] = host
    return config
