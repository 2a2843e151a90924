"""The HostConfig flags of `create`/`run` → config.json (`bastion.engine.spec.build` through
`host_config.apply`), a table of cases per concern as Docker (moby daemon/oci_linux.go,
oci/caps, docker/cli opts) maps them; and `-v`/`--mount`/`--tmpfs` parsing
(`mount_flags`), env files (`host_config.read_kv_file`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from bastion.engine.errors import InvalidOptionError
from bastion.engine.host_config import read_kv_file
from bastion.engine.mount_flags import MountRequest, parse_mount, parse_volume, requests
from bastion.engine.spec import ContainerOptions, ImageFacts, build, merge
from bastion.runtime.seccomp_profile import DOCKER_DEFAULT_CAPABILITIES

if TYPE_CHECKING:
    from pathlib import Path

ID = "0123456789abcdef" * 4
DEFAULTS = set(DOCKER_DEFAULT_CAPABILITIES)


def _spec(options: ContainerOptions, mounts: list[dict[str, Any]] | None = None) -> Any:
    process = merge(ImageFacts(cmd=("sh",)), options, ID)
    return build(
        process,
        options,
        rootfs="/r",
        cgroup_path="/bastion/x",
        annotations={},
        etc_files={"/etc/hosts": "/c/hosts"},
        host_mounts=mounts,
    )


def _caps(options: ContainerOptions) -> set[str]:
    caps = _spec(options)["process"]["capabilities"]
    assert caps["bounding"] == caps["effective"] == caps["permitted"]
    return set(caps["bounding"])


def _own_bounding_set() -> set[str]:
    from bastion.oci.vocabulary import CAPABILITIES

    with open("/proc/self/status") as f:
        bits = next(int(line.split()[1], 16) for line in f if line.startswith("CapBnd:"))
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    return {n for n, i in CAPABILITIES.items() if i <= last and bits & (1 << i)}


# (cap_add, cap_drop) -> expected set (None: every capability the engine holds, minus drops)
CAP_CASES: list[tuple[tuple[str, ...], tuple[str, ...], set[str] | None]] = [
    ((), (), DEFAULTS),
    (("NET_ADMIN",), (), DEFAULTS | {"CAP_NET_ADMIN"}),
    (
        ("cap_sys_admin",),
        ("kill", "CAP_CHOWN"),
        DEFAULTS - {"CAP_KILL", "CAP_CHOWN"} | {"CAP_SYS_ADMIN"},
    ),
    (("NET_BIND_SERVICE",), ("ALL",), {"CAP_NET_BIND_SERVICE"}),
    ((), ("all",), set()),
    (("ALL",), ("CHOWN",), None),
    (("CHOWN",), (), DEFAULTS),  # already in: no duplicate
]


@pytest.mark.parametrize(("add", "drop", "expected"), CAP_CASES)
def test_capabilities(
    add: tuple[str, ...], drop: tuple[str, ...], expected: set[str] | None
) -> None:
    options = ContainerOptions(cap_add=add, cap_drop=drop)
    caps = _spec(options)["process"]["capabilities"]["bounding"]
    assert len(caps) == len(set(caps))
    if expected is None:
        expected = _own_bounding_set() - {"CAP_CHOWN"}
    assert set(caps) == expected


def test_unknown_capability_is_refused() -> None:
    with pytest.raises(InvalidOptionError):
        _spec(ContainerOptions(cap_add=("NOT_A_CAP",)))


def _allowed(spec: Any) -> set[str]:
    seccomp = spec["linux"]["seccomp"]
    return {n for r in seccomp["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]}


def test_seccomp_is_converted_for_the_final_capabilities() -> None:
    # Docker's profile allows mount(2) only to a container holding CAP_SYS_ADMIN
    assert "mount" not in _allowed(_spec(ContainerOptions()))
    assert "mount" in _allowed(_spec(ContainerOptions(cap_add=("SYS_ADMIN",))))


def test_seccomp_options(tmp_path: Path) -> None:
    assert "seccomp" not in _spec(ContainerOptions(security_opt=("seccomp=unconfined",)))["linux"]
    assert "seccomp" not in _spec(ContainerOptions(privileged=True))["linux"]
    profile = tmp_path / "p.json"
    profile.write_text(
        json.dumps(
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["chmod"], "action": "SCMP_ACT_ERRNO"}],
            }
        )
    )
    seccomp = _spec(ContainerOptions(security_opt=(f"seccomp={profile}",)))["linux"]["seccomp"]
    assert seccomp["defaultAction"] == "SCMP_ACT_ALLOW"
    assert seccomp["syscalls"] == [{"names": ["chmod"], "action": "SCMP_ACT_ERRNO"}]
    with pytest.raises(InvalidOptionError):
        _spec(ContainerOptions(security_opt=(f"seccomp={tmp_path}/absent.json",)))


@pytest.mark.parametrize(
    ("opts", "expected"),
    [
        ((), False),
        (("no-new-privileges",), True),
        (("no-new-privileges:true",), True),
        (("no-new-privileges=true",), True),
        (("no-new-privileges=false",), False),
    ],
)
def test_no_new_privileges(opts: tuple[str, ...], expected: bool) -> None:
    assert _spec(ContainerOptions(security_opt=opts))["process"]["noNewPrivileges"] is expected


@pytest.mark.parametrize("opt", ["apparmor=x", "no-new-privileges=maybe", "seccomp", "label"])
def test_bad_security_opt(opt: str) -> None:
    with pytest.raises(InvalidOptionError):
        _spec(ContainerOptions(security_opt=(opt,)))


M = 1 << 20
# (memory, memory_swap) -> linux.resources.memory (None: refused)
MEMORY_CASES: list[tuple[int | None, int | None, dict[str, int] | None]] = [
    (64 * M, None, {"limit": 64 * M, "swap": 128 * M}),
    (64 * M, -1, {"limit": 64 * M, "swap": -1}),
    (64 * M, 96 * M, {"limit": 64 * M, "swap": 96 * M}),
    (64 * M, 64 * M, {"limit": 64 * M, "swap": 64 * M}),
    (64 * M, 32 * M, None),
    (None, 96 * M, None),
]


@pytest.mark.parametrize(("memory", "swap", "expected"), MEMORY_CASES)
def test_memory_and_swap(memory: int | None, swap: int | None, expected: Any) -> None:
    options = ContainerOptions(memory=memory, memory_swap=swap)
    if expected is None:
        with pytest.raises(InvalidOptionError):
            _spec(options)
    else:
        assert _spec(options)["linux"]["resources"]["memory"] == expected


# options -> linux.resources.cpu (None: refused)
CPU_CASES: list[tuple[dict[str, Any], dict[str, Any] | None]] = [
    ({"cpus": 0.5}, {"period": 100_000, "quota": 50_000}),
    ({"cpus": 1.25}, {"period": 100_000, "quota": 125_000}),
    ({"cpus": 0.001}, None),
    ({"cpus": 0.0, "cpu_shares": 100}, {"shares": 100}),  # --cpus 0: no quota
    ({"cpus": 4096.0}, None),
    ({"cpu_shares": 512}, {"shares": 512}),
    ({"cpu_shares": 1}, {"shares": 2}),  # Docker raises it to the kernel's minimum
    ({"cpuset_cpus": "0"}, {"cpus": "0"}),
    ({"cpuset_cpus": "4096"}, None),
    ({"cpuset_cpus": "0-x"}, None),
]


@pytest.mark.parametrize(("fields", "expected"), CPU_CASES)
def test_cpu(fields: dict[str, Any], expected: dict[str, Any] | None) -> None:
    options = ContainerOptions(**fields)
    if expected is None:
        with pytest.raises(InvalidOptionError):
            _spec(options)
    else:
        assert _spec(options)["linux"]["resources"]["cpu"] == expected


INFINITY = 2**64 - 1
# --ulimit values -> process.rlimits by type (None: refused)
ULIMIT_CASES: list[tuple[tuple[str, ...], dict[str, tuple[int, int]] | None]] = [
    ((), {}),  # none set: the container inherits the engine's, as Docker's its daemon's
    (("nofile=100:200",), {"RLIMIT_NOFILE": (100, 200)}),
    (("nproc=10",), {"RLIMIT_NPROC": (10, 10)}),
    (("core=-1",), {"RLIMIT_CORE": (INFINITY, INFINITY)}),
    (("nofile=1:2", "nofile=3:4"), {"RLIMIT_NOFILE": (3, 4)}),
    (("nofile=200:100",), None),
    (("bogus=1",), None),
    (("nofile",), None),
    (("nofile=x",), None),
]


@pytest.mark.parametrize(("ulimits", "expected"), ULIMIT_CASES)
def test_ulimits(ulimits: tuple[str, ...], expected: dict[str, tuple[int, int]] | None) -> None:
    options = ContainerOptions(ulimits=ulimits)
    if expected is None:
        with pytest.raises(InvalidOptionError):
            _spec(options)
        return
    rlimits = _spec(options)["process"]["rlimits"]
    assert {r["type"]: (r["soft"], r["hard"]) for r in rlimits} == expected


def test_read_only_root() -> None:
    assert _spec(ContainerOptions())["root"]["readonly"] is False
    assert _spec(ContainerOptions(read_only=True))["root"]["readonly"] is True


def _mounts(options: ContainerOptions) -> list[dict[str, Any]]:
    """What `Volumes.prepare` saves, for binds and tmpfs (no volume store needed)."""
    out = []
    for r in requests(options.volumes, options.mounts, options.tmpfs):
        assert r.type != "volume"
        out.append(
            {
                "type": r.type,
                "destination": r.target,
                "read_only": r.read_only,
                "propagation": r.propagation if r.type == "bind" else "",
                "source": r.source if r.type == "bind" else "tmpfs",
                "options": list(r.options),
                "flag": r.flag,
            }
        )
    return out


def test_mounts_in_the_spec(tmp_path: Path) -> None:
    options = ContainerOptions(
        volumes=(f"{tmp_path}:/data/in:ro", f"{tmp_path}:/etc"),
        tmpfs=("/scratch:size=1m,exec", "/dev/shm:size=8m"),
    )
    spec = _spec(options, _mounts(options))
    by_destination = {m["destination"]: m for m in spec["mounts"]}
    assert by_destination["/scratch"] == {
        "destination": "/scratch",
        "type": "tmpfs",
        "source": "tmpfs",
        "options": ["noexec", "nosuid", "nodev", "size=1m", "exec", "rprivate"],
    }
    # a flag's mount replaces Docker's default one at the same place
    assert [m["destination"] for m in spec["mounts"]].count("/dev/shm") == 1
    assert "size=8m" in by_destination["/dev/shm"]["options"]
    assert by_destination["/data/in"]["options"] == ["rbind", "rprivate", "ro"]
    assert by_destination["/data/in"]["source"] == str(tmp_path)
    # parents first: /etc (a bind) before the /etc/hosts file mounted into it
    order = [m["destination"] for m in spec["mounts"]]
    assert order.index("/etc") < order.index("/etc/hosts") < order.index("/data/in")
    assert order.index("/dev") < order.index("/dev/shm")


def test_init() -> None:
    spec = _spec(ContainerOptions(init=True, command=("sleep", "1")))
    assert spec["process"]["args"] == ["/run/bastion-init", "--", "sleep", "1"]
    assert {
        "destination": "/run/bastion-init",
        "type": "bind",
        "source": "/usr/bin/catatonit",
        "options": ["bind", "rprivate", "ro"],
    } in spec["mounts"]


def test_privileged() -> None:
    spec = _spec(ContainerOptions(privileged=True))
    linux = spec["linux"]
    assert linux["maskedPaths"] == [] and linux["readonlyPaths"] == []
    assert linux["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    devices = {d["path"]: d for d in linux["devices"]}
    assert devices["/dev/null"]["type"] == "c" and devices["/dev/null"]["major"] == 1
    assert "/dev/ptmx" not in devices and "/dev/console" not in devices
    sysfs = next(m for m in spec["mounts"] if m["type"] == "sysfs")
    assert "ro" not in sysfs["options"]
    assert set(spec["process"]["capabilities"]["bounding"]) == _own_bounding_set()
    default = _spec(ContainerOptions())["linux"]
    assert default["maskedPaths"] and "devices" not in default


# -v value -> (type, source, target, read-only, propagation, nocopy); None: refused
VOLUME_CASES: list[tuple[str, tuple[str, str, str, bool, str, bool] | None]] = [
    ("/data", ("volume", "", "/data", False, "rprivate", False)),
    ("/data/", ("volume", "", "/data", False, "rprivate", False)),
    ("cache:/c", ("volume", "cache", "/c", False, "rprivate", False)),
    ("cache:/c:ro,nocopy", ("volume", "cache", "/c", True, "rprivate", True)),
    ("/tmp:/t", ("bind", "/tmp", "/t", False, "rprivate", False)),
    ("/tmp:/t:ro", ("bind", "/tmp", "/t", True, "rprivate", False)),
    ("/tmp:/t:rw,rshared,z", ("bind", "/tmp", "/t", False, "rshared", False)),
    ("relative", None),
    ("/tmp:relative", None),
    ("/tmp:/", None),
    ("./dir:/x", None),
    ("x:/x", None),  # a one-character volume name
    ("/tmp:/t:rx", None),
    ("/tmp:/t:nocopy", None),
    ("/no/such/dir/bst:/t", None),
    ("a:b:c:d", None),
]


@pytest.mark.parametrize(("text", "expected"), VOLUME_CASES)
def test_parse_volume(text: str, expected: tuple[str, str, str, bool, str, bool] | None) -> None:
    if expected is None:
        with pytest.raises(InvalidOptionError):
            parse_volume(text)
        return
    r = parse_volume(text)
    assert (r.type, r.source, r.target, r.read_only, r.propagation, r.nocopy) == expected


MOUNT_CASES: list[tuple[str, tuple[str, str, str, bool, tuple[str, ...]] | None]] = [
    ("type=bind,source=/tmp,target=/t,readonly", ("bind", "/tmp", "/t", True, ())),
    ("type=bind,src=/tmp,dst=/t,ro=false", ("bind", "/tmp", "/t", False, ())),
    ("source=v1,target=/v", ("volume", "v1", "/v", False, ())),
    ("type=volume,target=/v", ("volume", "", "/v", False, ())),
    (
        "type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1777",
        ("tmpfs", "", "/t", False, ("noexec", "nosuid", "nodev", "size=1m", "mode=1777")),
    ),
    ("type=bind,source=rel,target=/t", None),
    ("type=bind,source=/tmp", None),
    ("type=npipe,target=/t", None),
    ("type=volume,target=/v,colour=red", None),
    ("type=tmpfs,source=x,target=/t", None),
]


@pytest.mark.parametrize(("text", "expected"), MOUNT_CASES)
def test_parse_mount(
    text: str, expected: tuple[str, str, str, bool, tuple[str, ...]] | None
) -> None:
    if expected is None:
        with pytest.raises(InvalidOptionError):
            parse_mount(text)
        return
    r = parse_mount(text)
    assert (r.type, r.source, r.target, r.read_only, r.options) == expected


def test_image_volumes_become_anonymous_unless_a_flag_mounts_there() -> None:
    got = requests(("named:/a",), (), ("/t",), image_volumes=("/a", "/b/c", "/d"))
    assert [(r.type, r.source, r.target, r.flag) for r in got] == [
        ("volume", "named", "/a", "-v"),
        ("tmpfs", "", "/t", "--tmpfs"),
        ("volume", "", "/d", "image"),
        ("volume", "", "/b/c", "image"),
    ]
    with pytest.raises(InvalidOptionError):
        requests(("/tmp:/x",), ("type=tmpfs,target=/x",), ())
    assert isinstance(got[0], MountRequest)


def test_env_file_format(tmp_path: Path) -> None:
    path = tmp_path / "env"
    path.write_text(
        "\ufeffFIRST=1\n# comment\n   \n  INDENTED=two words\nQUOTED='x'\nBARE\nEMPTY=\n"
    )
    assert read_kv_file(str(path), "--env-file") == [
        "FIRST=1",
        "INDENTED=two words",
        "QUOTED='x'",
        "BARE",
        "EMPTY=",
    ]
    for bad in ("=value\n", "HAS SPACE=1\n"):
        path.write_text(bad)
        with pytest.raises(InvalidOptionError):
            read_kv_file(str(path), "--env-file")
    with pytest.raises(InvalidOptionError):
        read_kv_file(str(tmp_path / "absent"), "--env-file")
