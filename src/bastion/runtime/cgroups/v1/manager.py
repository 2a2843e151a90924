"""`V1Manager`: one container's cgroup on a legacy or hybrid host (one hierarchy per controller).

The cgroup is made in every mounted v1 hierarchy (named ones such as name=systemd excepted: they
belong to their manager) and written in runc's fs order: cpuset, devices, memory, cpu, cpuacct,
pids, blkio, hugetlb, net_cls, net_prio, rdma. A resource whose controller is not mounted raises
`cgroup-unsupported`; an unmounted controller with nothing to set is simply skipped.

Hybrid hosts (v1 controllers plus a cgroup2 mount at /sys/fs/cgroup/unified), as runc does: the
same path is also made in the unified hierarchy and every pid added there too, which gives
cgroup.kill (used for SIGKILL) and cgroup.events. Beyond runc: when v1 lacks hugetlb or the
freezer but the unified hierarchy offers them, they are used there, and `unified` keys for
controllers the unified hierarchy offers (or core "cgroup.*" files) are written there; runc
refuses `unified` on v1 altogether.
"""

from __future__ import annotations

from bastion.runtime import crash
from bastion.runtime.cgroups import attach, files, tree
from bastion.runtime.cgroups.base import CgroupStats, FreezerState
from bastion.runtime.cgroups.common import cgroup2
from bastion.runtime.cgroups.errors import CgroupUnsupportedError
from bastion.runtime.cgroups.v1 import cpuset, freezer

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import LinuxResources
    from bastion.runtime.cgroups.base import Accounting, Controller


def _controllers(resources: LinuxResources) -> list[Controller]:
    """The controllers `apply` writes for `resources`, in runc's fs order.

    Only those whose part of `resources` is set: the others' `apply` writes nothing and their
    `wanted` is false, so they are not even imported (start-up cost: a plain container sets
    device rules only; kill, delete and pause import none of them).
    """
    out: list[Controller] = []
    if resources.cpu is not None:
        from bastion.runtime.cgroups.common import cpuset as cpuset_values

        out.append(cpuset_values)
    if resources.devices:
        from bastion.runtime.cgroups.v1 import devices

        out.append(devices)
    if resources.memory is not None:
        from bastion.runtime.cgroups.v1 import memory

        out.append(memory)
    if resources.cpu is not None:
        from bastion.runtime.cgroups.v1 import cpu

        out.append(cpu)
    # cpuacct: accounting only, nothing to write
    if resources.pids is not None:
        from bastion.runtime.cgroups.common import pids

        out.append(pids)
    if resources.block_io is not None:
        from bastion.runtime.cgroups.v1 import blkio

        out.append(blkio)
    if resources.hugepage_limits:
        from bastion.runtime.cgroups.v1 import hugetlb

        out.append(hugetlb)
    if resources.network is not None:
        from bastion.runtime.cgroups.v1 import net_cls, net_prio

        out += [net_cls, net_prio]
    if resources.rdma:
        from bastion.runtime.cgroups.common import rdma

        out.append(rdma)
    return out


def _accounting() -> tuple[Accounting, ...]:
    """The controllers `stats` reads."""
    from bastion.runtime.cgroups.common import pids
    from bastion.runtime.cgroups.v1 import cpu, cpuacct, memory

    return (memory, cpu, cpuacct, pids)


class V1Manager:
    """The cgroup `path` in each hierarchy of `controllers` (controller → mount point), plus the
    cgroup2 mount `unified` on hybrid hosts."""

    def __init__(self, path: str, *, controllers: dict[str, str], unified: str | None) -> None:
        self.path = path
        mounts = {n: m.rstrip("/") for n, m in controllers.items() if not n.startswith("name=")}
        self._mounts = mounts
        self._dirs = {name: mount + path for name, mount in mounts.items()}
        self._unified_root = unified.rstrip("/") if unified else None
        self._unified = self._unified_root + path if self._unified_root else None

    def __repr__(self) -> str:
        return f"V1Manager({self.path!r}, {self._mounts!r}, unified={self._unified_root!r})"

    def v2_directory(self) -> str | None:
        return self._unified

    def _leaves(self) -> list[str]:
        """The cgroup's directory in each hierarchy (one per mount), the unified one last."""
        leaves = sorted({mount + self.path for mount in self._mounts.values()})
        return leaves + ([self._unified] if self._unified else [])

    def create(self) -> bool:
        """mkdir the cgroup everywhere, cpuset values inherited level by level; True if the leaf
        existed in no hierarchy before."""
        existed = False
        for mount in sorted(set(self._mounts.values())):
            existed |= not tree.make(mount, self.path)
            if mount == self._mounts.get("cpuset"):
                cpuset.inherit(mount, self.path)
        crash.point("cgroup-v1")  # tests: a create killed between the v1 and unified mkdirs
        if self._unified_root:
            existed |= not tree.make(self._unified_root, self.path)
        return not existed

    def add(self, pid: int) -> None:
        """Move process `pid` into the cgroup in every hierarchy."""
        for leaf in self._leaves():
            files.write(f"{leaf}/cgroup.procs", str(pid))

    def directories(self) -> list[str]:
        """The cgroup's directory in each hierarchy (what state.json records for delete)."""
        return self._leaves()

    def freezer_file(self) -> str:
        """The file `state` reads: freezer.state (v1) or the unified cgroup.freeze; "" if none."""
        try:
            directory, v1 = self._freezer()
        except CgroupUnsupportedError:
            return ""
        return directory + ("/freezer.state" if v1 else "/cgroup.freeze")

    def join(self, *, cgroup2: bool) -> None:
        """Move the calling process (one thread: a fresh fork) into the cgroup: `0` to each v1
        hierarchy's `tasks` (a one-thread move takes no threadgroup lock, so no RCU grace
        period; `cgroup.procs` where `tasks` is refused), and to the unified hierarchy's
        `cgroup.procs` if `cgroup2` (the fork did not place it there: attach.py)."""
        v1, unified = self.join_targets()
        attach.join_directories(v1, unified if cgroup2 else None)

    def join_targets(self) -> tuple[list[str], str | None]:
        """What `join` writes `0` into: the v1 directories and the cgroup2 one, if any."""
        return sorted({mount + self.path for mount in self._mounts.values()}), self._unified

    def apply(self, resources: LinuxResources) -> None:
        """Write `resources` into the cgroup (also used by update)."""
        from bastion.runtime.cgroups.common import hugetlb as common_hugetlb
        from bastion.runtime.cgroups.common import subtree, unified
        from bastion.runtime.cgroups.v1 import devices, memory

        controllers = _controllers(resources)
        on_unified = unified.controllers(resources)
        if resources.hugepage_limits and "hugetlb" not in self._dirs:
            on_unified.add("hugetlb")
        missing = [
            mod.NAME
            for mod in controllers
            if mod.NAME not in self._dirs and mod.wanted(resources) and mod.NAME not in on_unified
        ]
        if missing:
            raise CgroupUnsupportedError(
                f"cgroup v1 controllers not mounted on this host: {' '.join(missing)}",
                where="linux.resources",
            )
        if (on_unified or resources.unified) and self._unified_root is None:
            raise CgroupUnsupportedError(
                "this host has no cgroup v2 hierarchy for these settings",
                where="linux.resources.unified" if resources.unified else "linux.resources",
            )
        if on_unified and self._unified_root:
            subtree.check(self._unified_root, on_unified)
        devices.check(resources)
        memory.check(resources)
        for mod in controllers:
            directory = self._dirs.get(mod.NAME)
            if directory is not None:
                mod.apply(directory, resources)
        if self._unified_root and self._unified:
            subtree.enable(self._unified_root, self.path, on_unified)
            if "hugetlb" not in self._dirs:  # v1 has none: the limits go to the unified one
                common_hugetlb.write_limits(self._unified, resources, common_hugetlb.V2_SUFFIX)
            unified.apply(self._unified, resources)

    def _freezer(self) -> tuple[str, bool]:
        """The directory to freeze and whether it is a v1 freezer (else the unified one)."""
        if "freezer" in self._dirs:
            return self._dirs["freezer"], True
        if self._unified and cgroup2.supported(self._unified):
            return self._unified, False
        raise CgroupUnsupportedError("no freezer on this host (v1 freezer or cgroup.freeze)")

    def freeze(self) -> None:
        """Freeze every process in the cgroup."""
        directory, v1 = self._freezer()
        (freezer.freeze if v1 else cgroup2.freeze)(directory)

    def thaw(self) -> None:
        """Thaw the cgroup (nothing to do without a freezer)."""
        try:
            directory, v1 = self._freezer()
        except CgroupUnsupportedError:
            return
        (freezer.thaw if v1 else cgroup2.thaw)(directory)

    def state(self) -> str:
        """The freezer state: "frozen" or "thawed"."""
        try:
            directory, v1 = self._freezer()
        except CgroupUnsupportedError:
            return FreezerState.THAWED
        return (freezer.state if v1 else cgroup2.state)(directory)

    def kill(self, sig: int) -> None:
        """Signal every process. SIGKILL goes through the unified cgroup.kill on hybrid hosts,
        then to any pid still listed in v1 (one that joined only v1), and a frozen cgroup is
        thawed so the tasks can die; otherwise pid by pid while frozen, like runc's
        signalAllProcesses."""
        if sig == tree.SIGKILL and self._unified and cgroup2.kill(self._unified):
            tree.signal(self.pids(), sig)
            # A task frozen by the v1 freezer acts on SIGKILL only once thawed (runc thaws a
            # paused container for SIGKILL too).
            if self.state() == FreezerState.FROZEN:
                self.thaw()
            return
        tree.signal_all(self, sig)

    def pids(self) -> list[int]:
        """The pids in the cgroup and its descendants, in any hierarchy."""
        return tree.pids(self._leaves())

    def stats(self) -> CgroupStats:
        """Memory, CPU and pids counters (None where a controller is not mounted)."""
        fields: dict[str, int | None] = {}
        for mod in _accounting():
            directory = self._dirs.get(mod.NAME)
            if directory is not None:
                fields.update(mod.stats(directory))
        return CgroupStats(**fields)

    def oom_kills(self) -> int:
        """OOM kills in this cgroup (memory.oom_control "oom_kill"; 0 without memory)."""
        from bastion.runtime.cgroups.v1 import memory

        directory = self._dirs.get("memory")
        return 0 if directory is None else memory.oom_kills(directory)

    def exists(self) -> bool:
        """Whether the cgroup exists in any hierarchy."""
        return any(files.exists(leaf) for leaf in self._leaves())

    def destroy(self) -> None:
        """SIGKILL what is left, then remove the cgroup from every hierarchy."""
        if not self.exists():
            return
        if self.pids():
            self.kill(tree.SIGKILL)
        tree.remove(self._leaves())
