"""The audit's judgements on hand-made facts (no privileges): each check fires on the fact it
names and stays quiet on its absence; the parsers read the kernel's formats."""

from __future__ import annotations

import dataclasses
import struct

from bastion.audit import cbpf
from bastion.audit.checks import Finding, check_all, host_path
from bastion.audit.facts import CgroupLimits, Device, Mount, ProcessFacts, cgroup_limits

MOUNTINFO_HOST = """\
22 1 254:0 / / rw,relatime - ext4 /dev/vda rw
30 22 0:25 / /run rw,nosuid - tmpfs tmpfs rw
31 22 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
32 22 0:27 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
33 22 0:28 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
"""


def _mount(
    point: str, device: str = "0:99", root: str = "/", fstype: str = "tmpfs", ro: bool = False
) -> Mount:
    return Mount(
        mount_id=1,
        parent_id=0,
        device=device,
        root=root,
        mount_point=point,
        options=("ro" if ro else "rw",),
        fstype=fstype,
        source="none",
        super_options=(),
    )


def _facts(**changes: object) -> ProcessFacts:
    base = ProcessFacts(
        pid=0,  # /proc/0/root does not exist: the kernel-path checks see nothing
        namespaces={ns: (10 + i, 100 + i) for i, ns in enumerate(("mnt", "pid", "net", "user"))},
        uid_map="0 100000 65536\n",
        gid_map="0 100000 65536\n",
        uids=(0, 0, 0, 0),
        capabilities={"CapEff": 0x400, "CapBnd": 0x400, "CapPrm": 0x400},
        no_new_privs=True,
        seccomp_mode=2,
        seccomp_programs=[_program(cbpf.RET_ERRNO | 1)],  # denies everything
        lsm_label=None,
        host_lsms=("capability", "landlock"),
        mounts=(_mount("/", device="0:50", fstype="overlay", ro=True),),
        host_mounts=(),
        devices=(),
        cgroups=CgroupLimits(memory=1 << 26, pids=100, cpu_quota=50000),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _program(ret: int) -> bytes:
    return struct.pack("<HBBI", 0x06, 0, 0, ret)  # BPF_RET|BPF_K


def _checks(findings: list[Finding]) -> dict[str, str]:
    return {f.check: f.severity for f in findings}


def test_a_well_confined_process_has_only_info() -> None:
    assert {f.severity for f in check_all(_facts())} <= {"info", "low"}
    assert "runs-as-root" not in _checks(check_all(_facts()))


def test_shared_namespaces_are_graded() -> None:
    facts = _facts(namespaces={"mnt": (1, 1), "net": (2, 2), "pid": (3, 4), "user": (5, 6)})
    checks = _checks(check_all(facts))
    assert checks["namespace-shared-mnt"] == "critical"
    assert checks["namespace-shared-net"] == "high"
    assert "namespace-shared-pid" not in checks


def test_root_without_a_user_namespace_and_a_root_mapping() -> None:
    no_userns = _facts(namespaces={"user": (7, 7)})
    assert _checks(check_all(no_userns))["runs-as-root"] == "medium"
    mapped = _facts(uid_map="0 0 4294967295\n")
    assert _checks(check_all(mapped))["user-namespace-maps-root"] == "high"


def test_dangerous_capabilities_by_set() -> None:
    sys_admin = 1 << 21
    effective = _facts(capabilities={"CapEff": sys_admin, "CapBnd": sys_admin})
    assert _checks(check_all(effective))["capability-sys-admin"] == "critical"
    bounding_only = _facts(capabilities={"CapEff": 0, "CapBnd": sys_admin})
    assert _checks(check_all(bounding_only))["capability-sys-admin"] == "high"


def test_seccomp_off_and_the_filter_stack_precedence() -> None:
    assert _checks(check_all(_facts(seccomp_mode=0)))["seccomp-off"] == "high"
    errno = cbpf.RET_ERRNO | 1
    # two filters: the kernel keeps the stricter action
    assert cbpf.run_all([_program(cbpf.RET_ALLOW), _program(errno)], 0) == errno
    assert cbpf.run_all([_program(cbpf.RET_LOG), _program(cbpf.RET_KILL_PROCESS)], 0) == (
        cbpf.RET_KILL_PROCESS
    )
    allow_all = check_all(_facts(seccomp_programs=[_program(cbpf.RET_ALLOW)]))
    assert _checks(allow_all)["seccomp-allows-sensitive"] == "medium"
    deny_all = check_all(_facts(seccomp_programs=[_program(errno)]))
    assert "seccomp-allows-sensitive" not in _checks(deny_all)


def test_host_paths_follow_the_superblock() -> None:
    host = (_mount("/", device="254:0", fstype="ext4"), _mount("/run", device="0:25"))
    # a bind of the host's /run/containerd, and a fresh tmpfs with the same root "/"
    assert host_path(_mount("/x", device="0:25", root="/containerd"), host) == "/run/containerd"
    assert host_path(_mount("/tmp", device="0:77"), host) is None
    assert host_path(_mount("/data", device="254:0", root="/srv/data"), host) == "/srv/data"
    etc = _mount("/etc", device="254:0", root="/etc")
    checks = _checks(check_all(_facts(mounts=(etc,), host_mounts=host)))
    assert checks["host-mount-etc"] == "critical"
    readonly = _mount("/etc", device="254:0", root="/etc", ro=True)
    assert (
        _checks(check_all(_facts(mounts=(readonly,), host_mounts=host)))["host-mount-etc"] == "high"
    )


def test_devices_and_limits() -> None:
    facts = _facts(
        devices=(Device("/dev/null", "char", 1, 3), Device("/dev/sda", "block", 8, 0)),
        cgroups=CgroupLimits(devices_all=True),
    )
    checks = _checks(check_all(facts))
    assert checks["device-dev-sda"] == "high" and "device-dev-null" not in checks
    assert checks["devices-cgroup-all"] == "high"
    assert checks["limit-memory-none"] == checks["limit-pids-none"] == "medium"
    assert checks["limit-cpu-none"] == "low"


def test_cgroup_limits_are_read_through_the_mount_table(tmp_path: object) -> None:
    import os
    from pathlib import Path

    root = Path(os.fspath(tmp_path))  # type: ignore[call-overload]
    (root / "memory/c1").mkdir(parents=True)
    (root / "memory/c1/memory.limit_in_bytes").write_text("67108864\n")
    (root / "pids/c1").mkdir(parents=True)
    (root / "pids/c1/pids.max").write_text("max\n")
    mountinfo = MOUNTINFO_HOST.replace("/sys/fs/cgroup", os.fspath(root))
    limits = cgroup_limits("5:memory:/c1\n4:pids:/c1\n0::/c1\n", mountinfo)
    assert limits.memory == 64 << 20
    assert limits.pids is None  # "max"
    unlimited = root / "memory/c1/memory.limit_in_bytes"
    unlimited.write_text("9223372036854771712\n")
    assert cgroup_limits("5:memory:/c1\n", mountinfo).memory is None
