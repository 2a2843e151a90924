"""V1Manager on a fake v1 (and hybrid) tree: directories, write order and values."""

from __future__ import annotations

from errno import EINVAL
from typing import TYPE_CHECKING

import pytest

from bastion.oci.spec import (
    LinuxBlockIO,
    LinuxCPU,
    LinuxDeviceCgroup,
    LinuxHugepageLimit,
    LinuxInterfacePriority,
    LinuxMemory,
    LinuxNetwork,
    LinuxPids,
    LinuxResources,
    LinuxThrottleDevice,
    LinuxWeightDevice,
)
from bastion.runtime.cgroups.errors import (
    CgroupInvalidValueError,
    CgroupMemoryBelowUsageError,
    CgroupUnsupportedError,
)
from bastion.runtime.cgroups.v1.manager import V1Manager

if TYPE_CHECKING:
    from tests.unit.cgroups.conftest import FakeCgroupFs

HOST = ("memory", "cpu", "cpuacct", "cpuset", "pids", "devices", "freezer", "blkio")
MiB = 1 << 20


def manager(fake: FakeCgroupFs, path: str = "/bastion/c1") -> V1Manager:
    return V1Manager(path, controllers=dict(fake.v1), unified=fake.unified)


@pytest.fixture
def v1(fake_fs: FakeCgroupFs) -> V1Manager:
    fake_fs.add_v1(*HOST)
    made = manager(fake_fs)
    assert made.create() is True
    fake_fs.writes.clear()
    return made


def test_create_makes_the_path_in_every_hierarchy(fake_fs: FakeCgroupFs) -> None:
    fake_fs.add_v1(*HOST)
    controllers = {**fake_fs.v1, "name=systemd": fake_fs.dir("systemd")}
    made = V1Manager("/bastion/c1", controllers=controllers, unified=None)
    assert made.create() is True
    for name in HOST:
        assert fake_fs.read(f"{name}/bastion/c1/cgroup.procs") == ""
    assert made.exists()
    assert made.create() is False


def test_create_reports_a_leaf_that_existed_in_one_hierarchy(fake_fs: FakeCgroupFs) -> None:
    fake_fs.add_v1(*HOST)
    assert manager(fake_fs, "/bastion/other").create() is True
    V1Manager("/bastion/c1", controllers={"pids": fake_fs.v1["pids"]}, unified=None).create()
    assert manager(fake_fs).create() is False


def test_create_copies_cpuset_from_the_parents_when_empty(fake_fs: FakeCgroupFs) -> None:
    fake_fs.add_v1(*HOST)
    manager(fake_fs).create()
    assert fake_fs.written("cpuset") == [
        ("bastion/cpuset.cpus", "0-3"),
        ("bastion/cpuset.mems", "0"),
        ("bastion/c1/cpuset.cpus", "0-3"),
        ("bastion/c1/cpuset.mems", "0"),
    ]
    fake_fs.writes.clear()
    fake_fs.set("cpuset/bastion/cpuset.cpus", "1\n")
    manager(fake_fs, "/bastion/c2").create()
    assert fake_fs.written("cpuset") == [
        ("bastion/c2/cpuset.cpus", "1"),
        ("bastion/c2/cpuset.mems", "0"),
    ]


def test_add_writes_the_pid_into_every_hierarchy_and_unified(fake_fs: FakeCgroupFs) -> None:
    fake_fs.add_v1("memory", "pids")
    fake_fs.add_unified("unified", "hugetlb")
    made = manager(fake_fs)
    made.create()
    made.add(4242)
    assert sorted(fake_fs.writes) == [
        ("memory/bastion/c1/cgroup.procs", "4242"),
        ("pids/bastion/c1/cgroup.procs", "4242"),
        ("unified/bastion/c1/cgroup.procs", "4242"),
    ]


def test_memory_lowering_writes_the_limit_before_memsw(
    v1: V1Manager, fake_fs: FakeCgroupFs
) -> None:
    v1.apply(LinuxResources(memory=LinuxMemory(limit=256 * MiB, swap=512 * MiB)))
    assert fake_fs.written("memory/bastion/c1") == [
        ("memory.limit_in_bytes", str(256 * MiB)),
        ("memory.memsw.limit_in_bytes", str(512 * MiB)),
    ]


def test_memory_raising_writes_memsw_first(v1: V1Manager, fake_fs: FakeCgroupFs) -> None:
    fake_fs.set("memory/bastion/c1/memory.limit_in_bytes", str(256 * MiB))
    v1.apply(LinuxResources(memory=LinuxMemory(limit=1024 * MiB, swap=2048 * MiB)))
    assert fake_fs.written("memory/bastion/c1") == [
        ("memory.memsw.limit_in_bytes", str(2048 * MiB)),
        ("memory.limit_in_bytes", str(1024 * MiB)),
    ]


def test_memory_unlimited_lifts_swap_too(v1: V1Manager, fake_fs: FakeCgroupFs) -> None:
    v1.apply(LinuxResources(memory=LinuxMemory(limit=-1)))
    assert fake_fs.written("memory/bastion/c1") == [
        ("memory.memsw.limit_in_bytes", "-1"),
        ("memory.limit_in_bytes", "-1"),
    ]


def test_memory_other_settings(v1: V1Manager, fake_fs: FakeCgroupFs) -> None:
    mem = LinuxMemory(
        limit=100 * MiB,
        reservation=50 * MiB,
        swappiness=0,
        disable_oom_killer=True,
        kernel=10 * MiB,  # ignored, like runc: the kernel deprecated kmem limits
        kernel_tcp=1 * MiB,
    )
    v1.apply(LinuxResources(memory=mem))
    assert fake_fs.written("memory/bastion/c1") == [
        ("memory.limit_in_bytes", str(100 * MiB)),
        ("memory.soft_limit_in_bytes", str(50 * MiB)),
        ("memory.oom_control", "1"),
        ("memory.swappiness", "0"),
    ]


def test_memory_invalid_swappiness(v1: V1Manager) -> None:
    with pytest.raises(CgroupInvalidValueError) as info:
        v1.apply(LinuxResources(memory=LinuxMemory(swappiness=101)))
    assert info.value.where == "linux.resources.memory.swappiness"


def test_memory_check_before_update(v1: V1Manager, fake_fs: FakeCgroupFs) -> None:
    fake_fs.set("memory/bastion/c1/memory.usage_in_bytes", "5000")
    with pytest.raises(CgroupMemoryBelowUsageError) as info:
        v1.apply(LinuxResources(memory=LinuxMemory(limit=4096, check_before_update=True)))
    assert info.value.reference == "cgroup-memory-below-usage"


def test_cpu_order(v1: V1Manager, fake_fs: FakeCgroupFs) -> None:
    cpu = LinuxCPU(
        shares=512,
        period=50000,
        quota=25000,
        burst=1000,
        realtime_period=1000000,
        realtime_runtime=950000,
        idle=0,
    )
    v1.apply(LinuxResources(cpu=cpu))
    assert fake_fs.written("cpu/bastion/c1") == [
        ("cpu.shares", "512"),
        ("cpu.cfs_period_us", "50000"),
        ("cpu.cfs_burst_us", "1000"),
        ("cpu.cfs_quota_us", "25000"),
        ("cpu.rt_period_us", "1000000"),
        ("cpu.rt_runtime_us", "950000"),
        ("cpu.idle", "0"),
    ]


def test_cpu_period_rejected_before_the_quota_is_retried(
    v1: V1Manager, fake_fs: FakeCgroupFs
) -> None:
    fake_fs.fail("cpu/bastion/c1/cpu.cfs_period_us", EINVAL)
    v1.apply(LinuxResources(cpu=LinuxCPU(period=10000, quota=5000)))
    assert fake_fs.written("cpu/bastion/c1") == [
        ("cpu.cfs_quota_us", "5000"),
        ("cpu.cfs_period_us", "10000"),
    ]


def test_cpu_shares_clamped_by_the_kernel(
    v1: V1Manager, fake_fs: FakeCgroupFs, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bastion.runtime.cgroups import files

    real = files.read_int
    clamp = fake_fs.dir("cpu/bastion/c1/cpu.shares")
    monkeypatch.setattr(files, "read_int", lambda p: 262144 if p == clamp else real(p))
    with pytest.raises(CgroupInvalidValueError) as info:
        v1.apply(LinuxResources(cpu=LinuxCPU(shares=10**7)))
    assert "maximum" in info.value.message


def test_cpuset_values(v1: V1Manager, fake_fs: FakeCgroupFs) -> None:
    v1.apply(LinuxResources(cpu=LinuxCPU(cpus="2-3", mems="0")))
    assert fake_fs.written("cpuset/bastion/c1") == [("cpuset.cpus", "2-3"), ("cpuset.mems", "0")]


@pytest.mark.parametrize(("limit", "text"), [(100, "100"), (0, "max"), (-1, "max")])
def test_pids(v1: V1Manager, fake_fs: FakeCgroupFs, limit: int, text: str) -> None:
    v1.apply(LinuxResources(pids=LinuxPids(limit=limit)))
    assert fake_fs.writes == [("pids/bastion/c1/pids.max", text)]


def test_devices_reset_then_rules_in_order(v1: V1Manager, fake_fs: FakeCgroupFs) -> None:
    rules = (
        LinuxDeviceCgroup(allow=False, access="rwm"),
        LinuxDeviceCgroup(allow=True, type="c", major=1, minor=3, access="rwm"),
        LinuxDeviceCgroup(allow=True, type="c", access="m"),
        LinuxDeviceCgroup(allow=True, type="b", major=8),
        LinuxDeviceCgroup(allow=False, type="c", major=1, minor=3, access="w"),
    )
    v1.apply(LinuxResources(devices=rules))
    assert fake_fs.written("devices/bastion/c1") == [
        ("devices.deny", "a"),
        ("devices.deny", "a"),
        ("devices.allow", "c 1:3 rwm"),
        ("devices.allow", "c *:* m"),
        ("devices.allow", "b 8:* rwm"),
        ("devices.deny", "c 1:3 w"),
    ]


def test_devices_allow_all(v1: V1Manager, fake_fs: FakeCgroupFs) -> None:
    v1.apply(LinuxResources(devices=(LinuxDeviceCgroup(allow=True, type="a", access="rwm"),)))
    assert fake_fs.written("devices/bastion/c1") == [("devices.deny", "a"), ("devices.allow", "a")]


def test_no_device_rules_leave_devices_alone(v1: V1Manager, fake_fs: FakeCgroupFs) -> None:
    v1.apply(LinuxResources())
    assert fake_fs.writes == []


@pytest.mark.parametrize(
    "rule",
    [
        LinuxDeviceCgroup(allow=True, type="p", major=1, minor=1),
        LinuxDeviceCgroup(allow=True, type="c", major=1, minor=1, access="rx"),
    ],
)
def test_bad_device_rules_are_refused_before_any_write(
    v1: V1Manager, fake_fs: FakeCgroupFs, rule: LinuxDeviceCgroup
) -> None:
    rules = (LinuxDeviceCgroup(allow=False), rule)
    with pytest.raises(CgroupInvalidValueError) as info:
        v1.apply(LinuxResources(devices=rules, cpu=LinuxCPU(cpus="1")))
    assert info.value.where == "linux.resources.devices[1]"
    assert fake_fs.writes == []  # not even cpuset, which comes before devices


def test_bad_swappiness_is_refused_before_any_write(v1: V1Manager, fake_fs: FakeCgroupFs) -> None:
    with pytest.raises(CgroupInvalidValueError):
        v1.apply(LinuxResources(memory=LinuxMemory(limit=4096, swappiness=200)))
    assert fake_fs.writes == []


def test_blkio_uses_bfq_when_cfq_files_are_absent(v1: V1Manager, fake_fs: FakeCgroupFs) -> None:
    bio = LinuxBlockIO(
        weight=300,
        weight_device=(LinuxWeightDevice(major=8, minor=0, weight=200),),
        throttle_read_bps_device=(LinuxThrottleDevice(major=8, minor=0, rate=100),),
        throttle_write_bps_device=(LinuxThrottleDevice(major=8, minor=0, rate=200),),
        throttle_read_iops_device=(LinuxThrottleDevice(major=8, minor=0, rate=300),),
        throttle_write_iops_device=(
            LinuxThrottleDevice(major=8, minor=0, rate=400),
            LinuxThrottleDevice(major=8, minor=16, rate=500),
        ),
    )
    v1.apply(LinuxResources(block_io=bio))
    assert fake_fs.written("blkio/bastion/c1") == [
        ("blkio.bfq.weight", "300"),
        ("blkio.bfq.weight_device", "8:0 200"),
        ("blkio.throttle.read_bps_device", "8:0 100"),
        ("blkio.throttle.write_bps_device", "8:0 200"),
        ("blkio.throttle.read_iops_device", "8:0 300"),
        ("blkio.throttle.write_iops_device", "8:0 400"),
        ("blkio.throttle.write_iops_device", "8:16 500"),
    ]


def test_blkio_prefers_cfq_weight_files(v1: V1Manager, fake_fs: FakeCgroupFs) -> None:
    fake_fs.set("blkio/bastion/c1/blkio.weight", "500")
    fake_fs.set("blkio/bastion/c1/blkio.weight_device", "")
    bio = LinuxBlockIO(weight=300, weight_device=(LinuxWeightDevice(major=8, minor=0, weight=20),))
    v1.apply(LinuxResources(block_io=bio))
    assert fake_fs.written("blkio/bastion/c1") == [
        ("blkio.weight", "300"),
        ("blkio.weight_device", "8:0 20"),
    ]


def test_resources_for_unmounted_controllers_are_unsupported(
    v1: V1Manager, fake_fs: FakeCgroupFs
) -> None:
    network = LinuxNetwork(
        class_id=0x100001, priorities=(LinuxInterfacePriority(name="eth0", priority=5),)
    )
    with pytest.raises(CgroupUnsupportedError) as info:
        v1.apply(LinuxResources(pids=LinuxPids(limit=5), network=network))
    assert "net_cls net_prio" in info.value.message
    assert fake_fs.writes == []


def test_net_cls_and_net_prio_when_mounted(fake_fs: FakeCgroupFs) -> None:
    fake_fs.add_v1("net_cls", "net_prio")
    made = manager(fake_fs)
    made.create()
    fake_fs.set("net_cls/bastion/c1/net_cls.classid", "0")
    fake_fs.set("net_prio/bastion/c1/net_prio.ifpriomap", "")
    network = LinuxNetwork(
        class_id=0x100001,
        priorities=(
            LinuxInterfacePriority(name="eth0", priority=5),
            LinuxInterfacePriority(name="lo", priority=2),
        ),
    )
    made.apply(LinuxResources(network=network))
    assert fake_fs.writes == [
        ("net_cls/bastion/c1/net_cls.classid", str(0x100001)),
        ("net_prio/bastion/c1/net_prio.ifpriomap", "eth0 5"),
        ("net_prio/bastion/c1/net_prio.ifpriomap", "lo 2"),
    ]


def test_hybrid_hugetlb_goes_to_the_unified_hierarchy(fake_fs: FakeCgroupFs) -> None:
    fake_fs.add_v1(*HOST)
    fake_fs.add_unified("unified", "hugetlb")
    made = manager(fake_fs)
    made.create()
    fake_fs.writes.clear()
    made.apply(LinuxResources(hugepage_limits=(LinuxHugepageLimit(page_size="2MB", limit=0),)))
    assert fake_fs.written("unified") == [
        ("cgroup.subtree_control", "+hugetlb"),
        ("bastion/cgroup.subtree_control", "+hugetlb"),
        ("bastion/c1/hugetlb.2MB.max", "0"),
        ("bastion/c1/hugetlb.2MB.rsvd.max", "0"),
    ]


def test_hybrid_unified_keys(fake_fs: FakeCgroupFs) -> None:
    fake_fs.add_v1(*HOST)
    fake_fs.add_unified("unified", "hugetlb")
    made = manager(fake_fs)
    made.create()
    made.apply(LinuxResources(unified={"cgroup.freeze": "0"}))
    assert fake_fs.writes[-1] == ("unified/bastion/c1/cgroup.freeze", "0")
    fake_fs.writes.clear()
    with pytest.raises(CgroupUnsupportedError):
        made.apply(LinuxResources(pids=LinuxPids(limit=1), unified={"memory.high": "1000"}))
    assert fake_fs.writes == []


def test_legacy_without_unified_refuses_hugetlb_and_unified(v1: V1Manager) -> None:
    limits = (LinuxHugepageLimit(page_size="2MB", limit=0),)
    with pytest.raises(CgroupUnsupportedError):
        v1.apply(LinuxResources(hugepage_limits=limits))
    with pytest.raises(CgroupUnsupportedError):
        v1.apply(LinuxResources(unified={"cgroup.freeze": "0"}))


def test_hugetlb_v1_when_mounted(fake_fs: FakeCgroupFs) -> None:
    fake_fs.add_v1("hugetlb")
    made = manager(fake_fs)
    made.create()
    fake_fs.set("hugetlb/bastion/c1/hugetlb.2MB.limit_in_bytes", "0")
    made.apply(LinuxResources(hugepage_limits=(LinuxHugepageLimit(page_size="2MB", limit=4096),)))
    assert fake_fs.writes == [("hugetlb/bastion/c1/hugetlb.2MB.limit_in_bytes", "4096")]
