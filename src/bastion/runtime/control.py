"""Operations on a live container's cgroup: pause, resume, update, stats, events, processes.

Functions taking a `Container` (so `container.py` stays small), each gated on the container's
status like the `Container` methods are. What runc does is the model:

- `pause` / `resume` freeze and thaw the cgroup (v1 freezer.state, v2 cgroup.freeze, through the
  `CgroupManager`); nothing is recorded: "paused" is read back from the freezer by `status`.
- `update` merges a LinuxResources document over the container's current resources (the
  config.json of `create`, or the result of the last update, kept in `<root>/<id>/resources.json`)
  and applies the result with `CgroupManager.apply`. As in runc's `update`, a 0 (or "") in the
  memory, cpu, blockIO and pids numbers means "leave it as it is", device rules are never touched
  (runc's SkipDevices), and kernel memory settings are ignored with a warning. If the kernel refuses
  the new values, the previous ones are applied again before the error is raised.
- `stats_event` / `events` produce runc's `events` documents (`{"type": "stats", "id", "data"}`
  and `{"type": "oom", "id"}`); `processes` lists the pids of the cgroup.
"""

from __future__ import annotations

import time

from bastion import jsonio
from bastion.runtime import store
from bastion.runtime.cgroups.errors import CgroupError
from bastion.runtime.errors import InvalidState
from bastion.runtime.status import Status, can_observe, can_pause, can_resume, can_update

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from bastion.oci.spec import LinuxResources
    from bastion.runtime.cgroups.base import CgroupStats
    from bastion.runtime.container import Container

#: The resources of the last successful `update`, as a LinuxResources JSON document.
RESOURCES_FILE = "resources.json"

#: What runc prints when kernel memory settings are given (they are ignored everywhere).
KERNEL_MEMORY_WARNING = "Kernel memory settings are ignored and will be removed"
DEVICES_WARNING = "device rules cannot be changed by update (runc neither); ignored them"

# Fields whose 0 (or "") leaves the current value in place, as runc's update treats them: its
# cgroup writers skip zero values, and its flags default to zero.
_KEEP_IF_ZERO: dict[str, frozenset[str]] = {
    "memory": frozenset({"limit", "reservation", "swap"}),
    "cpu": frozenset({"shares", "quota", "period", "realtimeRuntime", "realtimePeriod"}),
    "blockIO": frozenset({"weight", "leafWeight"}),
}
_KEEP_IF_EMPTY = frozenset({"cpus", "mems"})
_OBJECTS = ("memory", "cpu", "blockIO", "network")
_MAPS = ("rdma", "unified")


# --- pause, resume ----------------------------------------------------------------------------


def pause(container: Container) -> None:
    """Freeze every process of a running (or created) container."""
    fd = container.sd.lock()
    try:
        found = container.status
        if not can_pause(found):
            raise InvalidState(
                container.id, found, "pause", hint="only a running or created container pauses"
            )
        container.cgroup.freeze()
    finally:
        container.sd.unlock(fd)


def resume(container: Container) -> None:
    """Thaw a paused container."""
    fd = container.sd.lock()
    try:
        found = container.status
        if not can_resume(found):
            raise InvalidState(
                container.id, found, "resume", hint="only a paused container resumes"
            )
        container.cgroup.thaw()
    finally:
        container.sd.unlock(fd)


# --- update -----------------------------------------------------------------------------------


def parse_resources(text: str | bytes, source: str) -> dict[str, Any]:
    """A LinuxResources JSON document (what `update --resources` reads) as a checked dict.

    Errors are `SpecError`s naming `source:line:column` for bad JSON, or the JSON path
    ("resources.memory.limit") for a value of the wrong type or range.
    """
    from bastion.oci.decode import parse_json

    doc = parse_json(text, source)
    decode_resources(doc, "resources")
    assert type(doc) is dict  # decode_resources checked it
    return doc


def decode_resources(doc: object, where: str) -> LinuxResources:
    """The `LinuxResources` record of a JSON document, with errors naming paths under `where`."""
    from bastion.oci.decode import decode_resources as decode

    return decode(doc, where)


def current_resources(container: Container) -> dict[str, Any]:
    """The container's resources as a JSON document: the last update's, else its config's."""
    try:
        with open(container.sd.file(RESOURCES_FILE), "rb") as f:
            stored: dict[str, Any] = jsonio.loads(f.read())
        return stored
    except FileNotFoundError:
        pass
    with open(container.sd.file(store.CONFIG_FILE), "rb") as f:
        config = jsonio.loads(f.read())
    resources: dict[str, Any] = (config.get("linux") or {}).get("resources") or {}
    return resources


def merge_resources(
    current: dict[str, Any], changes: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """`changes` laid over `current` (both LinuxResources documents); also the warnings.

    Objects (memory, cpu, blockIO, network) merge field by field, maps (rdma, unified) key by key,
    hugepageLimits entry by page size; a 0 or "" where runc means "unchanged" and empty arrays
    change nothing; device rules and kernel memory settings are dropped with a warning.
    """
    merged = {key: value for key, value in current.items() if value is not None}
    warnings: list[str] = []
    for key, value in changes.items():
        if value is None:
            continue
        if key == "devices":
            if value:
                _warn(warnings, DEVICES_WARNING)
        elif key in _OBJECTS:
            merged[key] = _merge_object(key, merged.get(key) or {}, value, warnings)
        elif key == "pids":
            if value.get("limit"):
                merged["pids"] = {"limit": value["limit"]}
        elif key == "hugepageLimits":
            by_size = {entry["pageSize"]: entry for entry in merged.get(key) or ()}
            by_size.update((entry["pageSize"], entry) for entry in value)
            merged[key] = list(by_size.values())
        elif key in _MAPS:
            merged[key] = {**(merged.get(key) or {}), **value}
        # Any other key is not a LinuxResources field: ignored, as Go's decoder does.
    return merged, warnings


def _merge_object(
    name: str, old: dict[str, Any], new: dict[str, Any], warnings: list[str]
) -> dict[str, Any]:
    out = dict(old)
    keep_if_zero = _KEEP_IF_ZERO.get(name, frozenset())
    for field, value in new.items():
        if value is None:
            continue
        if name == "memory" and field in ("kernel", "kernelTCP"):
            if value:
                _warn(warnings, KERNEL_MEMORY_WARNING)
            continue
        if field in keep_if_zero and type(value) is int and value == 0:
            continue
        if field in _KEEP_IF_EMPTY and value == "":
            continue
        if type(value) is list and not value:
            continue
        out[field] = value
    return out


def _warn(warnings: list[str], message: str) -> None:
    if message not in warnings:
        warnings.append(message)


def update(container: Container, changes: dict[str, Any]) -> list[str]:
    """Merge `changes` (a checked LinuxResources document) over the container's resources and
    apply them; returns warnings for the caller to show. The merged document is stored so that
    the next update merges over it."""
    from bastion._record import replace

    decode_resources(changes, "resources")
    fd = container.sd.lock()
    try:
        found = container.status
        if not can_update(found):
            raise InvalidState(container.id, found, "update", hint="it has no processes to limit")
        current = current_resources(container)
        merged, warnings = merge_resources(current, changes)
        new = decode_resources(merged, "resources")
        try:
            container.cgroup.apply(replace(new, devices=()))
        except BaseException:
            # Put back what was there (runc's Set does the same); the first error is the news.
            try:
                container.cgroup.apply(replace(decode_resources(current, "resources"), devices=()))
            except Exception:
                pass
            raise
        store.write_atomic(container.sd.file(RESOURCES_FILE), jsonio.dumps(merged).encode())
    finally:
        container.sd.unlock(fd)
    return warnings


# --- stats, events, processes -----------------------------------------------------------------


def stats_data(stats: CgroupStats) -> dict[str, Any]:
    """runc's `events` "data" object (types.Stats) from the cgroup counters; a counter this host
    does not have is left out, like runc's `omitempty` fields."""
    return {
        "cpu": {
            "usage": _present(
                total=stats.cpu_usage_ns, kernel=stats.cpu_system_ns, user=stats.cpu_user_ns
            ),
            "throttling": _present(
                periods=stats.cpu_periods,
                throttled_periods=stats.cpu_throttled_periods,
                throttled_time=stats.cpu_throttled_time_ns,
            ),
        },
        "memory": {
            "usage": _present(
                limit=stats.memory_limit, usage=stats.memory_usage, max=stats.memory_max_usage
            ),
        },
        "pids": _present(current=stats.pids_current, limit=stats.pids_limit),
    }


def _present(**fields: int | None) -> dict[str, int]:
    return {key: value for key, value in fields.items() if value is not None}


def stats_event(container: Container) -> dict[str, Any]:
    """One `{"type": "stats", "id": ..., "data": {...}}` event (`runc events --stats`)."""
    found = container.status
    if not can_observe(found):
        raise InvalidState(container.id, found, "get the stats of")
    return {"type": "stats", "id": container.id, "data": stats_data(container.cgroup.stats())}


def events(container: Container, interval: float, *, poll: float = 0.1) -> Iterator[dict[str, Any]]:
    """runc's `events` stream: a stats event every `interval` seconds (the first after one
    interval, like Go's time.Tick) and an `{"type": "oom", "id": ...}` event each time the
    cgroup's OOM kill count grows (checked every `poll` seconds). Ends when the container stops."""
    found = container.status
    if not can_observe(found):
        raise InvalidState(container.id, found, "get the events of")
    ooms = _oom_kills(container)
    due = time.monotonic() + interval
    while True:
        count = _oom_kills(container)
        if count > ooms:
            ooms = count
            yield {"type": "oom", "id": container.id}
        if container.status == Status.STOPPED:
            return
        now = time.monotonic()
        if now >= due:
            try:
                data = stats_data(container.cgroup.stats())
            except CgroupError:
                if container.status == Status.STOPPED:  # deleted under us
                    return
                raise
            yield {"type": "stats", "id": container.id, "data": data}
            due = max(due + interval, now)
        time.sleep(max(0.0, min(poll, due - time.monotonic())))


def _oom_kills(container: Container) -> int:
    try:
        return container.cgroup.oom_kills()
    except CgroupError:
        return 0


def processes(container: Container) -> list[int]:
    """The host pids in the container's cgroup (and its child cgroups), sorted; none once the
    cgroup is gone."""
    cgroup = container.cgroup
    return cgroup.pids() if cgroup.exists() else []
