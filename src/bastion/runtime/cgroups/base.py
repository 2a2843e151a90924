"""What every cgroup manager offers: the `CgroupManager` Protocol and the `CgroupStats` record.

There are two managers, `v1.manager.V1Manager` (legacy and hybrid hosts) and
`v2.manager.V2Manager` (unified hosts); `detect.open_manager` picks one once per process and
nothing else branches on the cgroup version (docs/conventions.md §4, youki's `CgroupManager`).
The Protocols exist for the type checker only: `typing` costs 17 ms to import on bastion-runc's
start-up path, so they are defined under `TYPE_CHECKING` and the managers do not inherit from
them. `Controller` and `Accounting` are what a manager needs of a controller module (one module
per controller under v1/, v2/ and common/); the modules satisfy them as they are.
"""

from __future__ import annotations

from bastion._record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

    from bastion.oci.spec import LinuxResources

    class CgroupManager(Protocol):
        """One container's cgroup, in every hierarchy the host mounts."""

        @property
        def path(self) -> str:
            """The cgroupsPath, absolute ("/bastion/<id>"), relative to each hierarchy's root."""
            ...

        def create(self) -> bool:
            """Make the cgroup (and its parents) everywhere; True if this call made the leaf.

            The caller keeps the result: a cgroup that existed before must survive `destroy`.
            """
            ...

        def add(self, pid: int) -> None:
            """Move process `pid` into the cgroup."""
            ...

        def directories(self) -> list[str]:
            """The cgroup's directory in every hierarchy."""
            ...

        def freezer_file(self) -> str:
            """The file whose content `state` reads ("FROZEN" or "1" when frozen); "" when the
            host has no freezer. Recorded by create so that start and delete need no manager."""
            ...

        def join(self, *, cgroup2: bool) -> None:
            """Move the calling, single-threaded process into the cgroup without the RCU wait
            of `add` where the kernel allows (attach.py); the cgroup2 hierarchy only if
            `cgroup2` (a clone3 with CLONE_INTO_CGROUP placed it there already)."""
            ...

        def join_targets(self) -> tuple[list[str], str | None]:
            """What `join` writes `0` into: the v1 directories, and the cgroup2 one if any."""
            ...

        def apply(self, resources: LinuxResources) -> None:
            """Write the limits in `resources` (used by create and by update)."""
            ...

        def freeze(self) -> None:
            """Freeze every process in the cgroup; returns once the kernel says frozen."""
            ...

        def thaw(self) -> None:
            """Thaw the cgroup."""
            ...

        def state(self) -> str:
            """The freezer state: "frozen" or "thawed"."""
            ...

        def kill(self, sig: int) -> None:
            """Send `sig` to every process in the cgroup (SIGKILL uses cgroup.kill if present)."""
            ...

        def pids(self) -> list[int]:
            """The pids in the cgroup and its descendants, sorted."""
            ...

        def stats(self) -> CgroupStats:
            """Memory, CPU and pids counters."""
            ...

        def oom_kills(self) -> int:
            """How many processes the OOM killer killed in this cgroup."""
            ...

        def exists(self) -> bool:
            """Whether the cgroup directory exists."""
            ...

        def v2_directory(self) -> str | None:
            """This cgroup's directory in the cgroup2 hierarchy (`unified` on hybrid hosts), whose
            inode number is the cgroup id eBPF programs see; None on a legacy-only host."""
            ...

        def destroy(self) -> None:
            """SIGKILL what is left, wait for it to go, remove the directories; idempotent."""
            ...

    class Placement(Protocol):
        """What `attach.fork` needs of a cgroup: a manager, or `attach.Recorded`."""

        def v2_directory(self) -> str | None: ...

        def join(self, *, cgroup2: bool) -> None: ...

        def join_targets(self) -> tuple[list[str], str | None]:
            """The directories `join` moves into: the v1 ones, and the cgroup2 one if any
            (the compiled init joins them itself: runtime/init/plan.py)."""
            ...

        def add(self, pid: int) -> None: ...

    class Controller(Protocol):
        """One controller's writer: each module under v1/, v2/ and common/ that sets limits is one
        (the module itself satisfies this Protocol: no class to build on bastion-runc's
        start-up path), so mypy checks every call a manager makes on its list of controllers."""

        @property
        def NAME(self) -> str:  # a module constant, read-only through the Protocol
            """The controller's name, as in /proc/cgroups and cgroup.controllers."""
            ...

        def wanted(self, resources: LinuxResources) -> bool:
            """Whether `resources` sets anything this controller writes."""
            ...

        def apply(self, directory: str, resources: LinuxResources) -> None:
            """Write what `resources` sets into the cgroup `directory`."""
            ...

    class Accounting(Protocol):
        """A controller module that reads counters for `CgroupManager.stats`."""

        @property
        def NAME(self) -> str:  # a module constant, read-only through the Protocol
            """The controller's name, as in /proc/cgroups and cgroup.controllers."""
            ...

        def stats(self, directory: str) -> dict[str, int | None]:
            """The cgroup `directory`'s counters, as `CgroupStats` fields."""
            ...


@record
class CgroupStats:
    """Counters of one cgroup; None where this host's cgroups do not say (or: no limit)."""

    memory_usage: int | None = None
    memory_max_usage: int | None = None
    memory_limit: int | None = None
    oom_kills: int | None = None
    cpu_usage_ns: int | None = None
    cpu_user_ns: int | None = None
    cpu_system_ns: int | None = None
    cpu_periods: int | None = None
    cpu_throttled_periods: int | None = None
    cpu_throttled_time_ns: int | None = None
    pids_current: int | None = None
    pids_limit: int | None = None


class FreezerState:
    """The values of `CgroupManager.state()`."""

    FROZEN = "frozen"
    THAWED = "thawed"
