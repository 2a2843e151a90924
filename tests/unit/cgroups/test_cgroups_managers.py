"""Both managers on fake trees: freezer, kill, pids, stats, OOM kills, removal."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from bastion.runtime.cgroups import tree
from bastion.runtime.cgroups.base import CgroupStats
from bastion.runtime.cgroups.errors import CgroupBusyError, CgroupUnsupportedError
from bastion.runtime.cgroups.v1.manager import V1Manager
from bastion.runtime.cgroups.v2.manager import V2Manager

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.unit.cgroups.conftest import FakeCgroupFs


@pytest.fixture
def v2(fake_fs: FakeCgroupFs) -> V2Manager:
    fake_fs.add_unified("", "cpu memory pids")
    fake_fs.enable_all("cpu", "memory", "pids")
    fake_fs.set("cgroup.subtree_control", "cpu memory pids")
    os.makedirs(fake_fs.dir("bastion"))
    fake_fs.populate(fake_fs.dir("bastion"))
    fake_fs.set("bastion/cgroup.subtree_control", "cpu memory pids")
    manager = V2Manager("/bastion/c1", root=fake_fs.root)
    manager.create()
    fake_fs.writes.clear()
    return manager


@pytest.fixture
def v1(fake_fs: FakeCgroupFs) -> V1Manager:
    fake_fs.add_v1("memory", "cpu", "cpuacct", "pids", "freezer")
    fake_fs.add_unified("unified", "")
    manager = V1Manager("/bastion/c1", controllers=dict(fake_fs.v1), unified=fake_fs.unified)
    manager.create()
    fake_fs.writes.clear()
    return manager


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A child process to signal (our own child: no privileges needed)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield child
    finally:
        child.kill()
        child.wait()


def test_v2_freeze_waits_for_cgroup_events(v2: V2Manager, fake_fs: FakeCgroupFs) -> None:
    fake_fs.set("bastion/c1/cgroup.events", "populated 1\nfrozen 1\n")
    v2.freeze()
    assert v2.state() == "frozen"
    v2.thaw()
    assert v2.state() == "thawed"
    assert fake_fs.writes == [("bastion/c1/cgroup.freeze", "1"), ("bastion/c1/cgroup.freeze", "0")]


def test_v2_sigkill_uses_cgroup_kill(v2: V2Manager, fake_fs: FakeCgroupFs) -> None:
    v2.kill(9)
    assert fake_fs.writes == [("bastion/c1/cgroup.kill", "1")]


def test_v2_other_signals_go_pid_by_pid_while_frozen(
    v2: V2Manager, fake_fs: FakeCgroupFs, sleeper: subprocess.Popen[bytes]
) -> None:
    fake_fs.set("bastion/c1/cgroup.procs", f"{sleeper.pid}\n")
    fake_fs.set("bastion/c1/cgroup.events", "populated 1\nfrozen 1\n")
    v2.kill(15)
    assert sleeper.wait(timeout=10) == -15
    assert fake_fs.writes == [("bastion/c1/cgroup.freeze", "1"), ("bastion/c1/cgroup.freeze", "0")]


def test_signal_to_a_frozen_cgroup_keeps_it_frozen_except_sigkill(
    v1: V1Manager, fake_fs: FakeCgroupFs, sleeper: subprocess.Popen[bytes]
) -> None:
    fake_fs.set("freezer/bastion/c1/freezer.state", "FROZEN")
    fake_fs.set("unified/bastion/c1/cgroup.procs", f"{sleeper.pid}\n")
    v1.kill(0)  # signal 0 only checks the pid
    assert fake_fs.writes == []
    os.remove(fake_fs.dir("unified/bastion/c1/cgroup.kill"))  # an older kernel
    v1.kill(9)
    assert sleeper.wait(timeout=10) == -9
    assert fake_fs.writes == [("freezer/bastion/c1/freezer.state", "THAWED")]


def test_v1_freezer_writes_and_state(v1: V1Manager, fake_fs: FakeCgroupFs) -> None:
    v1.freeze()
    assert v1.state() == "frozen"
    v1.thaw()
    assert v1.state() == "thawed"
    assert fake_fs.writes == [
        ("freezer/bastion/c1/freezer.state", "FROZEN"),
        ("freezer/bastion/c1/freezer.state", "THAWED"),
    ]


def test_v1_sigkill_uses_unified_cgroup_kill_on_hybrid(
    v1: V1Manager, fake_fs: FakeCgroupFs
) -> None:
    v1.kill(9)
    assert fake_fs.writes == [("unified/bastion/c1/cgroup.kill", "1")]


def test_v1_sigkill_thaws_a_frozen_v1_cgroup_after_cgroup_kill(
    v1: V1Manager, fake_fs: FakeCgroupFs
) -> None:
    fake_fs.set("freezer/bastion/c1/freezer.state", "FROZEN")
    v1.kill(9)
    assert fake_fs.writes == [
        ("unified/bastion/c1/cgroup.kill", "1"),
        ("freezer/bastion/c1/freezer.state", "THAWED"),
    ]


def test_v1_freezer_falls_back_to_unified(fake_fs: FakeCgroupFs) -> None:
    fake_fs.add_v1("memory")
    fake_fs.add_unified("unified", "")
    manager = V1Manager("/bastion/c1", controllers=dict(fake_fs.v1), unified=fake_fs.unified)
    manager.create()
    fake_fs.set("unified/bastion/c1/cgroup.events", "populated 0\nfrozen 1\n")
    manager.freeze()
    assert fake_fs.writes[-1] == ("unified/bastion/c1/cgroup.freeze", "1")
    assert manager.state() == "frozen"


def test_no_freezer_at_all(fake_fs: FakeCgroupFs) -> None:
    fake_fs.add_v1("memory")
    manager = V1Manager("/bastion/c1", controllers=dict(fake_fs.v1), unified=None)
    manager.create()
    with pytest.raises(CgroupUnsupportedError):
        manager.freeze()
    manager.thaw()
    assert manager.state() == "thawed"


def test_pids_are_the_union_over_hierarchies_and_children(
    v1: V1Manager, fake_fs: FakeCgroupFs
) -> None:
    fake_fs.set("memory/bastion/c1/cgroup.procs", "30\n10\n")
    fake_fs.set("pids/bastion/c1/cgroup.procs", "10\n")
    os.makedirs(fake_fs.dir("pids/bastion/c1/sub"))
    fake_fs.set("pids/bastion/c1/sub/cgroup.procs", "20\n")
    assert v1.pids() == [10, 20, 30]


def test_v1_stats_and_oom_kills(v1: V1Manager, fake_fs: FakeCgroupFs) -> None:
    leaf = "bastion/c1"
    fake_fs.set(f"memory/{leaf}/memory.usage_in_bytes", "1000")
    fake_fs.set(f"memory/{leaf}/memory.max_usage_in_bytes", "2000")
    fake_fs.set(
        f"memory/{leaf}/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"
    )
    fake_fs.set(f"cpu/{leaf}/cpu.stat", "nr_periods 5\nnr_throttled 3\nthrottled_time 700\n")
    fake_fs.set(f"cpuacct/{leaf}/cpuacct.usage", "900")
    fake_fs.set(f"cpuacct/{leaf}/cpuacct.usage_user", "600")
    fake_fs.set(f"cpuacct/{leaf}/cpuacct.usage_sys", "300")
    fake_fs.set(f"pids/{leaf}/pids.current", "4")
    assert v1.stats() == CgroupStats(
        memory_usage=1000,
        memory_max_usage=2000,
        memory_limit=None,  # the kernel's "unlimited" number
        oom_kills=2,
        cpu_usage_ns=900,
        cpu_user_ns=600,
        cpu_system_ns=300,
        cpu_periods=5,
        cpu_throttled_periods=3,
        cpu_throttled_time_ns=700,
        pids_current=4,
        pids_limit=None,
    )
    assert v1.oom_kills() == 2


def test_v1_cpuacct_ticks_on_old_kernels(v1: V1Manager, fake_fs: FakeCgroupFs) -> None:
    os.remove(fake_fs.dir("cpuacct/bastion/c1/cpuacct.usage_user"))
    fake_fs.set("cpuacct/bastion/c1/cpuacct.stat", "user 3\nsystem 1\n")
    tick = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    stats = v1.stats()
    assert (stats.cpu_user_ns, stats.cpu_system_ns) == (3 * tick, tick)


def test_v2_stats_and_oom_kills(v2: V2Manager, fake_fs: FakeCgroupFs) -> None:
    leaf = "bastion/c1"
    fake_fs.set(f"{leaf}/memory.current", "1000")
    fake_fs.set(f"{leaf}/memory.peak", "3000")
    fake_fs.set(f"{leaf}/memory.max", "65536")
    fake_fs.set(f"{leaf}/memory.events", "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\n")
    fake_fs.set(
        f"{leaf}/cpu.stat",
        "usage_usec 10\nuser_usec 7\nsystem_usec 3\nnr_periods 4\nnr_throttled 2\n"
        "throttled_usec 5\n",
    )
    fake_fs.set(f"{leaf}/pids.current", "2")
    fake_fs.set(f"{leaf}/pids.max", "10")
    assert v2.stats() == CgroupStats(
        memory_usage=1000,
        memory_max_usage=3000,
        memory_limit=65536,
        oom_kills=1,
        cpu_usage_ns=10000,
        cpu_user_ns=7000,
        cpu_system_ns=3000,
        cpu_periods=4,
        cpu_throttled_periods=2,
        cpu_throttled_time_ns=5000,
        pids_current=2,
        pids_limit=10,
    )
    assert v2.oom_kills() == 1


def test_destroy_of_a_missing_cgroup_is_a_no_op(fake_fs: FakeCgroupFs) -> None:
    fake_fs.add_unified("", "")
    manager = V2Manager("/bastion/gone", root=fake_fs.root)
    manager.destroy()
    manager.destroy()
    assert not manager.exists()


def test_remove_deepest_first_and_ignores_missing(tmp_path: os.PathLike[str]) -> None:
    top = os.path.join(tmp_path, "top")
    os.makedirs(os.path.join(top, "a", "b"))
    os.makedirs(os.path.join(top, "c"))
    tree.remove([top, os.path.join(tmp_path, "absent")])
    assert not os.path.exists(top)


def test_remove_gives_up_after_the_timeout(
    tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    top = os.path.join(tmp_path, "busy")
    os.makedirs(top)

    def busy(path: str) -> None:
        raise OSError(16, "Device or resource busy", path)

    monkeypatch.setattr(os, "rmdir", busy)
    with pytest.raises(CgroupBusyError) as info:
        tree.remove([top], timeout=0.05)
    assert info.value.reference == "cgroup-busy"
    assert info.value.where == top


def test_v1_join_writes_itself_to_tasks_and_cgroup2_only_when_asked(
    v1: V1Manager, fake_fs: FakeCgroupFs
) -> None:
    v1.join(cgroup2=False)
    assert sorted(fake_fs.writes) == [
        (f"{name}/bastion/c1/tasks", "0")
        for name in ("cpu", "cpuacct", "freezer", "memory", "pids")
    ]
    fake_fs.writes.clear()
    v1.join(cgroup2=True)
    assert fake_fs.writes[-1] == ("unified/bastion/c1/cgroup.procs", "0")
    assert len(fake_fs.writes) == 6


def test_v1_join_falls_back_to_cgroup_procs_where_tasks_is_refused(
    v1: V1Manager, fake_fs: FakeCgroupFs
) -> None:
    fake_fs.fail("memory/bastion/c1/tasks", errno.EINVAL)
    v1.join(cgroup2=False)
    assert ("memory/bastion/c1/cgroup.procs", "0") in fake_fs.writes
    assert ("memory/bastion/c1/tasks", "0") not in fake_fs.writes
    assert ("pids/bastion/c1/tasks", "0") in fake_fs.writes


def test_v2_join_writes_cgroup_procs_only_when_the_fork_did_not_place_it(
    v2: V2Manager, fake_fs: FakeCgroupFs
) -> None:
    v2.join(cgroup2=False)
    assert fake_fs.writes == []
    v2.join(cgroup2=True)
    assert fake_fs.writes == [("bastion/c1/cgroup.procs", "0")]
