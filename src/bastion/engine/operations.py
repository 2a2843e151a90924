"""What the engine does to a live or stopped container besides run and remove it: stats, top,
pause/unpause, rename, port, filtered logs. `Engine` has a thin method for each (docs/engine.md).

Everything about the cgroup goes through the runtime library (`bastion.runtime.control` and the
container's `CgroupManager`), so v1 and v2 hosts give the same answers; the files the engine
reads itself are memory.stat, for the page cache `stats` leaves out (`page_cache`: the runtime's
`CgroupStats` has no such counter), and the block and network I/O counters (`io_counters.py`).
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bastion.engine.errors import ContainerStateError, InvalidOptionError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from bastion.engine.io_counters import BlockEntry
    from bastion.engine.metadata import ContainerRecord
    from bastion.engine.monitor import LogLine
    from bastion.runtime.container import Container


@dataclass(frozen=True)
class ContainerStats:
    """One sample of a container's counters: `cpu_ns` is its CPU time so far, `memory_limit`
    the cgroup's limit (None: no limit, the host's memory bounds it), `pids` its tasks."""

    id: str
    name: str
    time: float
    cpu_ns: int
    memory_usage: int
    memory_limit: int | None
    pids: int
    pids_limit: int | None
    #: the inactive page cache in `memory_usage` (`page_cache`), which `memory_used` leaves out
    memory_cache: int = 0
    #: bytes read and written per device, and each interface's counters (engine/io_counters.py)
    block_io: tuple[BlockEntry, ...] = ()
    networks: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def block_totals(self) -> tuple[int, int]:
        """Bytes read and written, every device together (Docker's BlockIO column)."""
        from bastion.engine.io_counters import totals

        return totals(self.block_io)

    @property
    def network_totals(self) -> tuple[int, int]:
        """Bytes received and sent, every interface together (Docker's NetIO column)."""
        return (
            sum(n.get("rx_bytes", 0) for n in self.networks.values()),
            sum(n.get("tx_bytes", 0) for n in self.networks.values()),
        )

    @property
    def memory_used(self) -> int:
        """The memory Docker's `stats` shows: the usage without the inactive page cache (its
        CLI's calculateMemUsageUnixNoCache), which the kernel takes back before an OOM kill."""
        if self.memory_cache < self.memory_usage:
            return self.memory_usage - self.memory_cache
        return self.memory_usage


def container_size(directory: str) -> int:
    """What a container adds on disk: its directory without the mounted overlay's merged view
    (which shows the image's layers too): its upper dir, log, config."""
    return disk_usage(directory, skip=os.path.join(directory, "fs", "merged"))


def runtime_container(runtime_root: str, record: ContainerRecord) -> Container:
    """The runtime's view of a running container; `ContainerStateError` when it has none."""
    from bastion.runtime.container import Container
    from bastion.runtime.errors import ContainerNotFound

    if record.status != "running":
        raise ContainerStateError(f"container {record.name} is not running")
    try:
        return Container.load(runtime_root, record.id)
    except ContainerNotFound:
        raise ContainerStateError(f"container {record.name} is not running") from None


def sample(runtime_root: str, record: ContainerRecord) -> ContainerStats:
    """The container's counters now, from its cgroup (the runtime's `CgroupManager.stats`),
    and its block and network I/O (engine/io_counters.py; none on the host's network)."""
    from bastion.engine import io_counters

    container = runtime_container(runtime_root, record)
    counters = container.cgroup.stats()
    cgroup_dirs = container.saved.cgroup_dirs or container.cgroup.directories()
    host_network = record.config.get("network") == "host"
    return ContainerStats(
        id=record.id,
        name=record.name,
        time=time.monotonic(),
        cpu_ns=counters.cpu_usage_ns or 0,
        memory_usage=counters.memory_usage or 0,
        memory_limit=counters.memory_limit,
        pids=counters.pids_current or 0,
        pids_limit=counters.pids_limit,
        memory_cache=page_cache(cgroup_dirs),
        block_io=io_counters.block_io(cgroup_dirs),
        networks={} if host_network else io_counters.network(record.pid),
    )


def page_cache(cgroup_dirs: Iterable[str]) -> int:
    """The inactive file pages charged to the cgroup, from the memory controller's memory.stat
    among `cgroup_dirs`: cgroup v1's `total_inactive_file` (its children's included, as the
    usage counts them), cgroup2's `inactive_file`; 0 when no directory has one."""
    for directory in cgroup_dirs:
        try:
            with open(os.path.join(directory, "memory.stat"), "rb") as f:
                text = f.read()
        except OSError:
            continue  # not the memory controller's hierarchy (or the cgroup is gone)
        values = dict(line.split(b" ", 1) for line in text.splitlines() if b" " in line)
        for key in (b"total_inactive_file", b"inactive_file"):
            if key in values:
                return int(values[key])
    return 0


def cpu_percent(before: ContainerStats, after: ContainerStats) -> float:
    """CPU time used between two samples as a share of one CPU (Docker's CPU %: 100 per busy
    CPU, so a container using two CPUs shows 200)."""
    elapsed = after.time - before.time
    if elapsed <= 0:
        return 0.0
    return max(0, after.cpu_ns - before.cpu_ns) / (elapsed * 1e9) * 100


def host_memory() -> int:
    """MemTotal: what bounds a container without a memory limit (Docker shows it as LIMIT)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def processes(runtime_root: str, record: ContainerRecord) -> list[int]:
    """The host pids in the container's cgroup, sorted (`runtime.control.processes`)."""
    from bastion.runtime import control

    return control.processes(runtime_container(runtime_root, record))


def pause(runtime_root: str, record: ContainerRecord) -> None:
    """Freeze every process of the container (the runtime's pause: the freezer)."""
    from bastion.runtime import control
    from bastion.runtime.errors import InvalidState

    try:
        control.pause(runtime_container(runtime_root, record))
    except InvalidState as exc:
        raise ContainerStateError(f"container {record.name} cannot be paused: {exc}") from None


def unpause(runtime_root: str, record: ContainerRecord) -> None:
    from bastion.runtime import control
    from bastion.runtime.errors import InvalidState

    try:
        control.resume(runtime_container(runtime_root, record))
    except InvalidState as exc:
        raise ContainerStateError(f"container {record.name} is not paused: {exc}") from None


def is_paused(runtime_root: str, record: ContainerRecord) -> bool:
    """Whether the runtime says the container is frozen (the record says only "running")."""
    from bastion.runtime.status import Status

    if record.status != "running":
        return False
    try:
        return runtime_container(runtime_root, record).status == Status.PAUSED
    except Exception:
        return False


def rename_files(directory: str, runtime_root: str, record: ContainerRecord, new: str) -> None:
    """Carry a new name to where it was written at create: the `bastion.name` annotation of
    config.json (the next start) and the runtime's identity record (the sensor's name for a
    running container)."""
    from bastion import jsonio
    from bastion.identity import IDENTITY_FILE
    from bastion.runtime.store import write_atomic

    config = os.path.join(directory, "config.json")
    with contextlib.suppress(FileNotFoundError):
        with open(config, "rb") as f:
            spec = jsonio.loads(f.read())
        spec.setdefault("annotations", {})["bastion.name"] = new
        write_atomic(config, jsonio.dumps(spec).encode())
    identity = os.path.join(runtime_root, record.id, IDENTITY_FILE)
    with contextlib.suppress(FileNotFoundError):
        with open(identity, "rb") as f:
            doc = jsonio.loads(f.read())
        doc["name"] = new
        write_atomic(identity, jsonio.dumps(doc).encode(), 0o644)


def check_name(name: str) -> None:
    """Docker's rule for container names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`."""
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
    if not name or not name[0].isalnum() or not set(name) <= allowed or not name.isascii():
        raise InvalidOptionError(
            f"invalid container name {name!r}", hint="use [a-zA-Z0-9][a-zA-Z0-9_.-]*"
        )


@dataclass(frozen=True)
class PublishedPort:
    """One published port, as the network step records it in the container's config under
    `ports`: {"container_port": 80, "protocol": "tcp", "host_ip": "0.0.0.0", "host_port": 8080}.
    """

    container_port: int
    protocol: str
    host_ip: str
    host_port: int

    def __str__(self) -> str:
        host = f"[{self.host_ip}]" if ":" in self.host_ip else self.host_ip
        return f"{self.container_port}/{self.protocol} -> {host}:{self.host_port}"


def published_ports(record: ContainerRecord) -> list[PublishedPort]:
    out = [
        PublishedPort(
            container_port=int(entry["container_port"]),
            protocol=str(entry.get("protocol", "tcp")),
            host_ip=str(entry.get("host_ip") or "0.0.0.0"),
            host_port=int(entry["host_port"]),
        )
        for entry in record.config.get("ports") or ()
    ]
    return sorted(out, key=lambda p: (p.container_port, p.protocol, p.host_ip))


# --- logs: --since, --until ---------------------------------------------------------------------


def parse_time(text: str, *, now: float | None = None) -> float:
    """A `--since`/`--until` value as a Unix time: Docker's forms, an RFC 3339 time
    (`2026-12-06T10:00:00Z`, a date alone), Unix seconds (`1733480000.5`), or a duration before
    now (`90s`, `10m`, `1h30m`)."""
    import datetime

    value = text.strip()
    now = time.time() if now is None else now
    with contextlib.suppress(ValueError):
        return float(value)
    if value and value[-1] in "smh" and value[0].isdigit():
        return now - _duration(value)
    with contextlib.suppress(ValueError):
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.UTC)
        return moment.timestamp()
    raise InvalidOptionError(
        f"invalid time {text!r}",
        hint="an RFC 3339 time (2026-12-06T10:00:00Z), Unix seconds, or a duration (10m, 1h30m)",
    )


def _duration(text: str) -> float:
    total, number = 0.0, ""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0}
    for char in text:
        if char.isdigit() or char == ".":
            number += char
        elif char in units and number:
            total += float(number) * units[char]
            number = ""
        else:
            raise ValueError(text)
    if number:
        raise ValueError(text)
    return total


def line_time(line: LogLine) -> float:
    """The Unix time of a log line (conmon writes RFC 3339 with nanoseconds)."""
    import datetime

    try:
        return datetime.datetime.fromisoformat(line.time.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def between(
    lines: Iterable[LogLine], since: float | None, until: float | None
) -> Iterator[LogLine]:
    """The lines written at or after `since` and before `until` (Docker's `logs` bounds)."""
    for line in lines:
        stamp = line_time(line)
        if since is not None and stamp < since:
            continue
        if until is not None and stamp >= until:
            return  # the log is in time order: nothing later can qualify
        yield line


def disk_usage(path: str, *, skip: str | None = None) -> int:
    """Bytes used by the files under `path` (not following links, not crossing into the
    directory `skip`), as `du` counts blocks."""
    total = 0
    for directory, subdirectories, files in os.walk(path):
        if skip is not None:
            subdirectories[:] = [d for d in subdirectories if os.path.join(directory, d) != skip]
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(directory, name)).st_blocks * 512
    return total
