"""`V2Manager`: one container's cgroup on a unified (cgroup v2) hierarchy.

`apply` enables in the ancestors only the controllers the resources need (`subtree.enable`),
then writes them in runc's fs2 order: pids, memory, io, cpu, cpuset, hugetlb, rdma, then the raw
`unified` keys. Settings v2 cannot express (realtime CPU, OOM-killer disabling, swappiness,
net_cls and net_prio, deny rules for particular devices) raise `cgroup-unsupported` before anything
is written.
"""

from __future__ import annotations

from bastion.runtime.cgroups import files, tree
from bastion.runtime.cgroups.base import CgroupStats
from bastion.runtime.cgroups.common import cgroup2
from bastion.runtime.cgroups.errors import CgroupUnsupportedError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import LinuxResources
    from bastion.runtime.cgroups.base import Controller

DEFAULT_ROOT = "/sys/fs/cgroup"


class V2Manager:
    """The cgroup `path` ("/bastion/<id>") under the cgroup2 mount `root`."""

    def __init__(self, path: str, *, root: str = DEFAULT_ROOT) -> None:
        self.path = path
        self.root = root.rstrip("/")
        self.directory = self.root + path

    def __repr__(self) -> str:
        return f"V2Manager({self.path!r}, root={self.root!r})"

    def create(self) -> bool:
        """mkdir the cgroup and its parents; True if the leaf is new."""
        return tree.make(self.root, self.path)

    def v2_directory(self) -> str | None:
        return self.directory

    def add(self, pid: int) -> None:
        """Move process `pid` into the cgroup."""
        files.write(f"{self.directory}/cgroup.procs", str(pid))

    def directories(self) -> list[str]:
        """The cgroup's directory (what state.json records for delete)."""
        return [self.directory]

    def freezer_file(self) -> str:
        """The file `state` reads."""
        return self.directory + "/cgroup.freeze"

    def join(self, *, cgroup2: bool) -> None:
        """Move the calling process into the cgroup, unless the fork already placed it there
        (`cgroup2` False: clone3 with CLONE_INTO_CGROUP, attach.py)."""
        if cgroup2:
            files.write(f"{self.directory}/cgroup.procs", "0")

    def join_targets(self) -> tuple[list[str], str | None]:
        """What `join` writes `0` into: no v1 directory, the cgroup2 one."""
        return [], self.directory

    def apply(self, resources: LinuxResources) -> None:
        """Write `resources` into the cgroup (also used by update)."""
        # Imported on first use: kill, delete and pause need none of them (start-up cost).
        from bastion.runtime.cgroups.common import cpuset, pids, rdma, subtree, unified
        from bastion.runtime.cgroups.v2 import cpu, devices, hugetlb, io, memory

        # runc's fs2 Set order
        controllers: tuple[Controller, ...] = (pids, memory, io, cpu, cpuset, hugetlb, rdma)
        devices.check(resources)
        memory.check(resources)
        cpu.check(resources)
        net = resources.network
        if net is not None and (net.class_id is not None or net.priorities):
            raise CgroupUnsupportedError(
                "cgroup v2 has no net_cls/net_prio controllers; use eBPF or nftables cgroup "
                "matches instead",
                where="linux.resources.network",
            )
        wanted = {mod.NAME for mod in controllers if mod.wanted(resources)}
        wanted |= unified.controllers(resources) & subtree.available(self.root)
        subtree.enable(self.root, self.path, wanted)
        for mod in controllers:
            mod.apply(self.directory, resources)
        unified.apply(self.directory, resources)

    def freeze(self) -> None:
        """Freeze the cgroup (cgroup.freeze) and wait until the kernel reports it frozen."""
        cgroup2.freeze(self.directory)

    def thaw(self) -> None:
        """Thaw the cgroup."""
        cgroup2.thaw(self.directory)

    def state(self) -> str:
        """The freezer state: "frozen" or "thawed"."""
        return cgroup2.state(self.directory)

    def kill(self, sig: int) -> None:
        """Signal every process: cgroup.kill for SIGKILL when the kernel has it, else pid by pid
        while frozen (so nothing forks away meanwhile), like runc's signalAllProcesses."""
        if sig == tree.SIGKILL and cgroup2.kill(self.directory):
            return
        tree.signal_all(self, sig)

    def pids(self) -> list[int]:
        """The pids in the cgroup and its descendants."""
        return tree.pids([self.directory])

    def stats(self) -> CgroupStats:
        """Memory, CPU and pids counters (None where a controller is not enabled)."""
        from bastion.runtime.cgroups.common import pids
        from bastion.runtime.cgroups.v2 import cpu, memory

        fields = {**memory.stats(self.directory), **cpu.stats(self.directory)}
        fields.update(pids.stats(self.directory))
        return CgroupStats(**fields)

    def oom_kills(self) -> int:
        """OOM kills in this cgroup (memory.events "oom_kill")."""
        from bastion.runtime.cgroups.v2 import memory

        return memory.oom_kills(self.directory)

    def exists(self) -> bool:
        """Whether the cgroup directory exists."""
        return files.exists(self.directory)

    def destroy(self) -> None:
        """SIGKILL what is left, then remove the cgroup and any child cgroups."""
        if not self.exists():
            return
        if self.pids():
            self.kill(tree.SIGKILL)
        tree.remove([self.directory])
