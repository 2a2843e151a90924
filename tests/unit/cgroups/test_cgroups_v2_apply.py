"""V2Manager.apply on a fake unified tree: which files get which values, in which order."""

from __future__ import annotations

from errno import EINVAL, ENOENT
from typing import TYPE_CHECKING

import pytest

from bastion.oci.spec import (
    LinuxBlockIO,
    LinuxCPU,
    LinuxDeviceCgroup,
    LinuxHugepageLimit,
    LinuxMemory,
    LinuxNetwork,
    LinuxPids,
    LinuxResources,
    LinuxThrottleDevice,
    LinuxWeightDevice,
)
from bastion.runtime.cgroups.errors import (
    CgroupFileError,
    CgroupInvalidValueError,
    CgroupMemoryBelowUsageError,
    CgroupUnsupportedError,
)
from bastion.runtime.cgroups.v2 import cpu, io
from bastion.runtime.cgroups.v2.manager import V2Manager

if TYPE_CHECKING:
    from tests.unit.cgroups.conftest import FakeCgroupFs

LEAF = "bastion/c1"
ALL = "cpu cpuset hugetlb io memory pids"
MiB = 1 << 20


@pytest.fixture
def v2(fake_fs: FakeCgroupFs) -> V2Manager:
    fake_fs.add_unified("", ALL)
    manager = V2Manager("/bastion/c1", root=fake_fs.root)
    assert manager.create() is True
    fake_fs.writes.clear()
    return manager


def leaf_writes(fake: FakeCgroupFs) -> list[tuple[str, str]]:
    return fake.written(LEAF)


def test_create_makes_parents_and_reports_a_preexisting_leaf(fake_fs: FakeCgroupFs) -> None:
    fake_fs.add_unified("", ALL)
    manager = V2Manager("/bastion/c1", root=fake_fs.root)
    assert not manager.exists()
    assert manager.create() is True
    assert manager.exists()
    assert manager.create() is False
    assert V2Manager("/bastion", root=fake_fs.root).create() is False


def test_memory_limit_swap_and_reservation(v2: V2Manager, fake_fs: FakeCgroupFs) -> None:
    mem = LinuxMemory(limit=256 * MiB, swap=512 * MiB, reservation=128 * MiB)
    v2.apply(LinuxResources(memory=mem))
    assert leaf_writes(fake_fs) == [
        ("memory.swap.max", str(256 * MiB)),  # memory+swap 512M - memory 256M
        ("memory.max", str(256 * MiB)),
        ("memory.low", str(128 * MiB)),
    ]


@pytest.mark.parametrize(
    ("limit", "swap", "expected"),
    [
        (100, 100, [("memory.swap.max", "0"), ("memory.max", "100")]),
        (-1, None, [("memory.swap.max", "max"), ("memory.max", "max")]),
        (100, -1, [("memory.swap.max", "max"), ("memory.max", "100")]),
        (100, None, [("memory.max", "100")]),
    ],
)
def test_memory_swap_conversion(
    v2: V2Manager,
    fake_fs: FakeCgroupFs,
    limit: int,
    swap: int | None,
    expected: list[tuple[str, str]],
) -> None:
    v2.apply(LinuxResources(memory=LinuxMemory(limit=limit, swap=swap)))
    assert leaf_writes(fake_fs) == expected


# runc's own table for ConvertMemorySwapToCgroupV2Value (opencontainers/cgroups utils_test.go,
# the code runc >= 1.2.1 runs: opencontainers/runc#4357), as (memory+swap, memory, what
# memory.swap.max gets or the field an error names). 0 is "not set" in runc; None here.
RUNC_SWAP_CASES = [
    pytest.param(0, 0, None, id="all unset"),
    pytest.param(-1, 0, "max", id="unlimited memory+swap, unset memory"),
    pytest.param(300, -1, "300", id="unlimited memory"),
    pytest.param(-1, -1, "max", id="all unlimited"),
    pytest.param(-2, 0, "!swap", id="negative memory+swap"),
    pytest.param(-1, 1000, "max", id="unlimited memory+swap, set memory"),
    pytest.param(1000, 1000, "0", id="memory+swap == memory"),
    pytest.param(500, 200, "300", id="memory+swap > memory"),
    pytest.param(300, 400, "!swap", id="memory+swap < memory"),
    pytest.param(300, 0, "!swap", id="unset memory"),
    pytest.param(300, -300, "!limit", id="negative memory"),
]


@pytest.mark.parametrize(("memswap", "memory", "swap_file"), RUNC_SWAP_CASES)
def test_memory_swap_follows_runcs_cases(
    v2: V2Manager, fake_fs: FakeCgroupFs, memswap: int, memory: int, swap_file: str | None
) -> None:
    mem = LinuxMemory(limit=memory or None, swap=memswap or None)
    resources = LinuxResources(memory=mem, pids=LinuxPids(limit=1))
    if swap_file is not None and swap_file.startswith("!"):
        with pytest.raises(CgroupInvalidValueError) as info:
            v2.apply(resources)
        assert info.value.where == f"linux.resources.memory.{swap_file[1:]}"
        assert fake_fs.writes == []  # refused before pids (written first) or any subtree_control
        return
    v2.apply(resources)
    written = dict(leaf_writes(fake_fs))
    assert written.get("memory.swap.max") == swap_file
    assert written.get("memory.max") == (
        None if not memory else "max" if memory < 0 else str(memory)
    )


def test_swap_max_missing_is_fine_only_for_max_or_zero(
    v2: V2Manager, fake_fs: FakeCgroupFs
) -> None:
    fake_fs.fail(f"{LEAF}/memory.swap.max", ENOENT)
    v2.apply(LinuxResources(memory=LinuxMemory(limit=100, swap=100)))
    fake_fs.fail(f"{LEAF}/memory.swap.max", ENOENT)
    with pytest.raises(CgroupFileError):
        v2.apply(LinuxResources(memory=LinuxMemory(limit=100, swap=300)))


@pytest.mark.parametrize(
    ("mem", "where"),
    [
        (LinuxMemory(disable_oom_killer=True), "linux.resources.memory.disableOOMKiller"),
        (LinuxMemory(swappiness=10), "linux.resources.memory.swappiness"),
    ],
)
def test_memory_settings_v2_lacks(v2: V2Manager, mem: LinuxMemory, where: str) -> None:
    with pytest.raises(CgroupUnsupportedError) as info:
        v2.apply(LinuxResources(memory=mem))
    assert info.value.reference == "cgroup-unsupported"
    assert info.value.where == where


def test_memory_check_before_update(v2: V2Manager, fake_fs: FakeCgroupFs) -> None:
    v2.apply(LinuxResources(memory=LinuxMemory(limit=100)))  # enables memory
    fake_fs.set(f"{LEAF}/memory.current", "4096")
    with pytest.raises(CgroupMemoryBelowUsageError):
        v2.apply(LinuxResources(memory=LinuxMemory(limit=4096, check_before_update=True)))
    v2.apply(LinuxResources(memory=LinuxMemory(limit=8192, check_before_update=True)))
    assert fake_fs.read(f"{LEAF}/memory.max") == "8192"


@pytest.mark.parametrize(
    ("cpu_", "expected"),
    [
        (LinuxCPU(quota=50000, period=100000), [("cpu.max", "50000 100000")]),
        (LinuxCPU(quota=20000), [("cpu.max", "20000 100000")]),
        (LinuxCPU(period=250000), [("cpu.max", "max 250000")]),
        (LinuxCPU(quota=-1, period=100000), [("cpu.max", "max 100000")]),
        (LinuxCPU(shares=1024), [("cpu.weight", "39")]),
        (LinuxCPU(idle=1), [("cpu.idle", "1")]),
        (
            LinuxCPU(shares=512, quota=1000, burst=500, idle=0),
            [("cpu.idle", "0"), ("cpu.weight", "20"), ("cpu.max.burst", "500"),
             ("cpu.max", "1000 100000")],
        ),
    ],
)  # fmt: skip
def test_cpu(
    v2: V2Manager, fake_fs: FakeCgroupFs, cpu_: LinuxCPU, expected: list[tuple[str, str]]
) -> None:
    v2.apply(LinuxResources(cpu=cpu_))
    assert leaf_writes(fake_fs) == expected


def test_cpu_burst_rejected_before_the_quota_is_retried_after_it(
    v2: V2Manager, fake_fs: FakeCgroupFs
) -> None:
    v2.apply(LinuxResources(cpu=LinuxCPU(shares=2)))
    fake_fs.writes.clear()
    fake_fs.fail(f"{LEAF}/cpu.max.burst", EINVAL)
    v2.apply(LinuxResources(cpu=LinuxCPU(quota=90000, burst=80000)))
    assert leaf_writes(fake_fs) == [("cpu.max", "90000 100000"), ("cpu.max.burst", "80000")]


@pytest.mark.parametrize(
    ("shares", "weight"), [(0, 0), (1, 1), (2, 1), (1024, 39), (262144, 10000), (10**6, 10000)]
)
def test_cpu_weight_from_shares(shares: int, weight: int) -> None:
    assert cpu.weight(shares) == weight


def test_realtime_cpu_is_unsupported(v2: V2Manager) -> None:
    with pytest.raises(CgroupUnsupportedError):
        v2.apply(LinuxResources(cpu=LinuxCPU(realtime_runtime=950000)))


def test_cpuset_and_pids(v2: V2Manager, fake_fs: FakeCgroupFs) -> None:
    v2.apply(LinuxResources(cpu=LinuxCPU(cpus="0-1", mems="0"), pids=LinuxPids(limit=64)))
    assert leaf_writes(fake_fs) == [
        ("pids.max", "64"),
        ("cpuset.cpus", "0-1"),
        ("cpuset.mems", "0"),
    ]


@pytest.mark.parametrize(("limit", "text"), [(0, "max"), (-1, "max"), (1, "1")])
def test_pids_unlimited(v2: V2Manager, fake_fs: FakeCgroupFs, limit: int, text: str) -> None:
    v2.apply(LinuxResources(pids=LinuxPids(limit=limit)))
    assert leaf_writes(fake_fs) == [("pids.max", text)]


def test_io_weight_and_throttles(v2: V2Manager, fake_fs: FakeCgroupFs) -> None:
    bio = LinuxBlockIO(
        weight=500,
        weight_device=(LinuxWeightDevice(major=8, minor=0, weight=1000),),
        throttle_read_bps_device=(LinuxThrottleDevice(major=8, minor=0, rate=1048576),),
        throttle_write_bps_device=(LinuxThrottleDevice(major=8, minor=16, rate=2097152),),
        throttle_read_iops_device=(LinuxThrottleDevice(major=8, minor=0, rate=100),),
        throttle_write_iops_device=(LinuxThrottleDevice(major=8, minor=0, rate=200),),
    )
    v2.apply(LinuxResources(block_io=bio))
    assert leaf_writes(fake_fs) == [
        ("io.weight", "4950"),
        ("io.weight", "8:0 10000"),
        ("io.max", "8:0 rbps=1048576"),
        ("io.max", "8:16 wbps=2097152"),
        ("io.max", "8:0 riops=100"),
        ("io.max", "8:0 wiops=200"),
    ]


def test_io_weight_prefers_bfq(v2: V2Manager, fake_fs: FakeCgroupFs) -> None:
    v2.apply(LinuxResources(pids=LinuxPids(limit=5)))  # just to have the leaf populated
    fake_fs.set(f"{LEAF}/io.bfq.weight", "default 100\n")
    fake_fs.writes.clear()
    bio = LinuxBlockIO(weight=300, weight_device=(LinuxWeightDevice(major=8, minor=0, weight=50),))
    v2.apply(LinuxResources(block_io=bio))
    assert leaf_writes(fake_fs) == [("io.bfq.weight", "300"), ("io.bfq.weight", "8:0 50")]


@pytest.mark.parametrize(("weight", "io_weight"), [(10, 1), (1000, 10000), (500, 4950)])
def test_io_weight_conversion(weight: int, io_weight: int) -> None:
    assert io.io_weight(weight) == io_weight


def test_hugetlb(v2: V2Manager, fake_fs: FakeCgroupFs) -> None:
    limits = (
        LinuxHugepageLimit(page_size="2MB", limit=4 * MiB),
        LinuxHugepageLimit(page_size="1GB", limit=1 << 30),
    )
    v2.apply(LinuxResources(hugepage_limits=limits))
    # 2MB has a .rsvd.max file, 1GB not: no further rsvd writes are tried once one is missing.
    assert leaf_writes(fake_fs) == [
        ("hugetlb.2MB.max", str(4 * MiB)),
        ("hugetlb.2MB.rsvd.max", str(4 * MiB)),
        ("hugetlb.1GB.max", str(1 << 30)),
    ]


def test_unified_keys_are_written_line_by_line(v2: V2Manager, fake_fs: FakeCgroupFs) -> None:
    unified = {"memory.high": "300000000", "io.max": "8:0 rbps=1\n8:16 wbps=2\n"}
    v2.apply(LinuxResources(unified=unified))
    assert leaf_writes(fake_fs) == [
        ("io.max", "8:0 rbps=1"),
        ("io.max", "8:16 wbps=2"),
        ("memory.high", "300000000"),
    ]


@pytest.mark.parametrize("key", ["../cgroup.procs", "memory/high", "..", ".hidden", ""])
def test_unified_keys_must_be_file_names(v2: V2Manager, fake_fs: FakeCgroupFs, key: str) -> None:
    with pytest.raises(CgroupInvalidValueError) as info:
        v2.apply(LinuxResources(unified={key: "1"}))
    assert info.value.reference == "cgroup-invalid-value"
    assert fake_fs.writes == []


def test_controllers_are_enabled_top_down_only_where_missing(
    v2: V2Manager, fake_fs: FakeCgroupFs
) -> None:
    fake_fs.enable_all("memory")
    v2.apply(LinuxResources(memory=LinuxMemory(limit=100), pids=LinuxPids(limit=9)))
    controls = [(p, v) for p, v in fake_fs.writes if p.endswith("subtree_control")]
    assert controls == [
        ("cgroup.subtree_control", "+pids"),
        ("bastion/cgroup.subtree_control", "+memory +pids"),
    ]
    assert fake_fs.read("bastion/cgroup.subtree_control") == "memory pids"
    assert fake_fs.read(f"{LEAF}/cgroup.subtree_control") == ""  # the leaf delegates nothing
    fake_fs.writes.clear()
    v2.apply(LinuxResources(pids=LinuxPids(limit=10)))
    assert fake_fs.writes == [(f"{LEAF}/pids.max", "10")]


def test_unified_keys_enable_their_controller(v2: V2Manager, fake_fs: FakeCgroupFs) -> None:
    v2.apply(LinuxResources(unified={"memory.high": "1000", "cgroup.freeze": "0"}))
    assert ("bastion/cgroup.subtree_control", "+memory") in fake_fs.writes


def test_no_resources_touch_no_ancestor(v2: V2Manager, fake_fs: FakeCgroupFs) -> None:
    v2.apply(LinuxResources())
    assert fake_fs.writes == []


def test_missing_controller_is_unsupported(fake_fs: FakeCgroupFs) -> None:
    fake_fs.add_unified("", "cpu memory")
    manager = V2Manager("/bastion/c1", root=fake_fs.root)
    manager.create()
    with pytest.raises(CgroupUnsupportedError) as info:
        manager.apply(LinuxResources(pids=LinuxPids(limit=1)))
    assert "pids" in info.value.message


DEFAULT_RULES = (
    LinuxDeviceCgroup(allow=False, access="rwm"),
    LinuxDeviceCgroup(allow=True, type="c", major=1, minor=3, access="rwm"),
    LinuxDeviceCgroup(allow=True, type="c", major=136, access="rwm"),
    LinuxDeviceCgroup(allow=True, type="a", access="rwm"),
)


def test_default_device_rules_are_accepted_without_writes(
    v2: V2Manager, fake_fs: FakeCgroupFs
) -> None:
    v2.apply(LinuxResources(devices=DEFAULT_RULES))
    assert fake_fs.writes == []


def test_denying_a_particular_device_needs_the_ebpf_filter(v2: V2Manager) -> None:
    rules = (*DEFAULT_RULES, LinuxDeviceCgroup(allow=False, type="b", major=8, minor=0))
    with pytest.raises(CgroupUnsupportedError) as info:
        v2.apply(LinuxResources(devices=rules))
    assert info.value.where == "linux.resources.devices[4]"


def test_network_is_unsupported(v2: V2Manager) -> None:
    with pytest.raises(CgroupUnsupportedError):
        v2.apply(LinuxResources(network=LinuxNetwork(class_id=0x100001)))


def test_write_errors_name_file_value_and_errno(v2: V2Manager, fake_fs: FakeCgroupFs) -> None:
    fake_fs.fail(f"{LEAF}/memory.max", 16)
    with pytest.raises(CgroupFileError) as info:
        v2.apply(LinuxResources(memory=LinuxMemory(limit=4096)))
    error = info.value
    assert error.reference == "cgroup-write-failed"
    assert error.path == fake_fs.dir(f"{LEAF}/memory.max")
    assert error.where == error.path
    assert (error.value, error.errno) == ("4096", 16)
    assert "'4096'" in error.render()
