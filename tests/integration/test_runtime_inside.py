"""What a process sees from inside a bastion container: checked by the process itself."""

from __future__ import annotations

import os
import subprocess
import tempfile
from typing import Any

import pytest

from bastion.oci.defaults import default_spec
from bastion_testing.helper import parse
from bastion_testing.plugin import BundleFactory

pytestmark = pytest.mark.privileged

HELPER = "/usr/bin/bst-helper"


def _default() -> Any:
    return default_spec()


def run_in(bastion_runc: str, root: str, bundle: str, name: str, *extra: str) -> str:
    result = subprocess.run(
        [bastion_runc, "--root", root, "run", *extra, "-b", bundle, name],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}{result.stdout}"
    return result.stdout


@pytest.fixture
def inside(
    bastion_runc: str, runtime_root: str, bundle_factory: BundleFactory, container_id: str
) -> Any:
    def go(args: list[str], **edits: Any) -> str:
        bundle = bundle_factory(args=args, **edits)
        return run_in(bastion_runc, runtime_root, bundle, container_id)

    return go


def _caps_mask(names: list[str]) -> int:
    from bastion.oci.vocabulary import CAPABILITIES

    mask = 0
    for name in names:
        mask |= 1 << CAPABILITIES[name]
    return mask


def test_pid_one_and_hostname(inside: Any) -> None:
    out = inside(
        ["sh", "-c", "echo pid=$$ ppid=$PPID; hostname; cat /proc/sys/kernel/domainname"],
        domainname="example.test",
    )
    lines = out.splitlines()
    assert parse(lines[0]) == {"pid": "1", "ppid": "0"}
    assert lines[1].startswith("bst-test-")
    assert lines[2] == "example.test"


def test_ids_umask_groups_and_env(inside: Any) -> None:
    out = inside(
        ["sh", "-c", f"{HELPER} ids; echo HOME=$HOME; echo FOO=$FOO; pwd"],
        **{
            "process.user": {"uid": 1000, "gid": 1000, "additionalGids": [10, 20], "umask": 63},
            "process.env": ["PATH=/bin:/usr/bin", "FOO=bar baz"],
            "process.cwd": "/tmp",
        },
    )
    ids = parse(out)
    assert (ids["uid"], ids["euid"], ids["gid"], ids["egid"]) == ("1000",) * 4
    assert sorted(ids["groups"].split(",")) == ["10", "20"]
    assert ids["umask"] == "0077"
    assert "HOME=/home/bst" in out  # from the image's /etc/passwd, as runc does
    assert "FOO=bar baz" in out
    assert out.splitlines()[-1] == "/tmp"


def test_capability_sets(inside: Any) -> None:
    caps = {
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID"],
        "effective": ["CAP_CHOWN", "CAP_KILL"],
        "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"],
    }
    # A non-root user so exec does not refill the sets from the bounding set.
    out = inside(
        [HELPER, "caps"],
        **{"process.capabilities": caps, "process.user": {"uid": 1000, "gid": 1000}},
    )
    got = {k: int(v, 16) for k, v in parse(out).items() if k.startswith("Cap")}
    assert got["CapBnd"] == _caps_mask(caps["bounding"])
    assert got["CapInh"] == _caps_mask(caps["inheritable"])
    assert got["CapAmb"] == _caps_mask(caps["ambient"])
    # After exec a non-root process keeps only its ambient set in permitted and effective.
    assert got["CapPrm"] == _caps_mask(caps["ambient"])
    assert got["CapEff"] == _caps_mask(caps["ambient"])


def test_root_gets_the_bounding_set(inside: Any) -> None:
    bounding = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    caps = dict.fromkeys(("bounding", "effective", "permitted"), bounding)
    got = parse(inside([HELPER, "caps"], **{"process.capabilities": caps}))
    assert int(got["CapEff"], 16) == int(got["CapBnd"], 16) == _caps_mask(bounding)


@pytest.mark.parametrize("nnp", [True, False])
def test_no_new_privileges(inside: Any, nnp: bool) -> None:
    got = parse(inside([HELPER, "caps"], **{"process.noNewPrivileges": nnp}))
    assert got["NoNewPrivs"] == str(int(nnp))


def test_rlimits(inside: Any) -> None:
    rlimits = [
        {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
        {"type": "RLIMIT_NPROC", "soft": 300, "hard": 400},
    ]
    got = parse(inside([HELPER, "rlimits"], **{"process.rlimits": rlimits}))
    assert got["RLIMIT_NOFILE"] == "512:1024"
    assert got["RLIMIT_CORE"] == "0:0"
    assert got["RLIMIT_NPROC"] == "300:400"


def _mountinfo(text: str) -> dict[str, tuple[str, str, str]]:
    """mount point -> (per-mount options, fstype, super options), the last mount winning."""
    table = {}
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        if len(fields) < 6:
            continue
        fstype, _source, super_opts = [*right.split(), "", "", ""][:3]
        table[fields[4]] = (fields[5], fstype, super_opts)
    return table


def test_mounts_and_their_flags(inside: Any) -> None:
    mounts = [
        {
            "destination": "/data",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "nodev", "noexec", "size=1m", "mode=700"],
        },
        {"destination": "/ro-bind", "type": "bind", "source": "/etc", "options": ["rbind", "ro"]},
    ]

    out = inside([HELPER, "mounts"], mounts=_default()["mounts"] + mounts)
    table = _mountinfo(out)
    root_opts = table["/"][0].split(",")
    assert "ro" in root_opts  # root.readonly
    proc = table["/proc"]
    assert proc[1] == "proc"
    data_opts, fstype, super_opts = table["/data"]
    assert fstype == "tmpfs"
    assert {"nosuid", "nodev", "noexec"} <= set(data_opts.split(","))
    assert "size=1024k" in super_opts and "mode=700" in super_opts
    assert "ro" in table["/ro-bind"][0].split(",")
    assert table["/dev"][1] == "tmpfs" and table["/dev/pts"][1] == "devpts"
    assert table["/sys"][1] == "sysfs" and "ro" in table["/sys"][0].split(",")
    # readonlyPaths of the default spec
    assert "ro" in table["/proc/sys"][0].split(",")


def test_masked_and_readonly_paths(inside: Any) -> None:
    script = (
        "cat /proc/kcore 2>/dev/null | head -c 1 | wc -c; "  # masked file: /dev/null, empty
        "ls /proc/acpi | wc -l; "  # masked dir: empty tmpfs
        "echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null && echo writable || echo readonly; "
        "touch /proc/acpi/x 2>/dev/null && echo writable || echo readonly"
    )
    out = inside(["sh", "-c", script]).split()
    assert out == ["0", "0", "readonly", "readonly"]


def test_devices(inside: Any) -> None:
    devices = [
        {
            "path": "/dev/bst-null",
            "type": "c",
            "major": 1,
            "minor": 3,
            "fileMode": 0o600,
            "uid": 0,
            "gid": 0,
        }
    ]
    resources_rule = {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
    out = inside(
        [
            "sh",
            "-c",
            "ls -ln /dev/null /dev/zero /dev/bst-null; echo x > /dev/bst-null && echo ok;"
            " readlink /dev/fd; readlink /dev/ptmx; head -c 4 /dev/zero | wc -c",
        ],
        **{
            "linux.devices": devices,
            "linux.resources.devices": [{"allow": False, "access": "rwm"}, resources_rule],
        },
    )
    lines = out.splitlines()
    by_name = {line.split()[-1]: line for line in lines if line.startswith("c")}
    assert by_name["/dev/null"].startswith("crw-rw-rw-") and " 1,   3 " in by_name["/dev/null"]
    assert by_name["/dev/zero"].startswith("crw-rw-rw-") and " 1,   5 " in by_name["/dev/zero"]
    assert by_name["/dev/bst-null"].startswith("crw-------")
    assert "ok" in lines
    assert "/proc/self/fd" in lines and "pts/ptmx" in lines
    assert lines[-1] == "4"


def test_sysctl_and_oom_score_adj(inside: Any) -> None:
    out = inside(
        ["sh", "-c", "cat /proc/sys/net/ipv4/ip_forward /proc/self/oom_score_adj"],
        **{
            "linux.sysctl": {"net.ipv4.ip_forward": "1"},
            "process.oomScoreAdj": 500,
            "root.readonly": True,
        },
    )
    assert out.split() == ["1", "500"]


def test_user_namespace_with_mappings(
    bastion_runc: str, runtime_root: str, container_id: str
) -> None:
    from bastion_testing.bundle import make_bundle

    namespaces = [*_default()["linux"]["namespaces"], {"type": "user"}]
    mapping = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    # The mapped root (host uid 100000) must be able to reach the rootfs, as with runc: pytest's
    # tmp_path is 0700, so this bundle lives in a world-traversable temp dir.
    with tempfile.TemporaryDirectory(prefix="bst-test-userns-") as parent:
        os.chmod(parent, 0o755)
        edits: dict[str, Any] = {
            "linux.namespaces": namespaces,
            "linux.uidMappings": mapping,
            "linux.gidMappings": mapping,
        }
        script = "cat /proc/self/uid_map /proc/self/gid_map; id -u"
        bundle = make_bundle(parent, args=["sh", "-c", script], **edits)
        os.chmod(bundle, 0o755)
        out = run_in(bastion_runc, runtime_root, bundle, container_id)
    lines = [line.split() for line in out.splitlines()]
    assert lines[0] == ["0", "100000", "65536"] and lines[1] == ["0", "100000", "65536"]
    assert lines[2] == ["0"]


def test_cgroup_namespace_sees_its_own_root(inside: Any) -> None:

    namespaces = [n for n in _default()["linux"]["namespaces"] if n["type"] != "cgroup"]
    out = inside(
        ["cat", "/proc/self/cgroup"], **{"linux.namespaces": [*namespaces, {"type": "cgroup"}]}
    )
    for line in out.splitlines():
        assert line.split(":", 2)[2] == "/", line


def test_time_namespace_offsets(inside: Any) -> None:

    namespaces = [*_default()["linux"]["namespaces"], {"type": "time"}]
    out = inside(
        ["cat", "/proc/uptime"],
        **{
            "linux.namespaces": namespaces,
            "linux.timeOffsets": {"boottime": {"secs": 86400 * 365, "nanosecs": 0}},
        },
    )
    assert float(out.split()[0]) > 86400 * 365


def test_join_network_namespace_by_path(inside: Any, tmp_path: Any) -> None:

    # A network namespace we make and own: `unshare --net` bound to a file in tmp_path.
    ns_file = tmp_path / "netns"
    ns_file.touch()
    try:
        subprocess.run(
            [
                "unshare",
                f"--net={ns_file}",
                "ip",
                "link",
                "add",
                "bst-test-v0",
                "type",
                "veth",
                "peer",
                "name",
                "bst-test-v1",
            ],
            check=True,
        )
        namespaces = [n for n in _default()["linux"]["namespaces"] if n["type"] != "network"]
        out = inside(
            ["cat", "/proc/net/dev"],
            **{"linux.namespaces": [*namespaces, {"type": "network", "path": str(ns_file)}]},
        )
        assert "bst-test-v0" in out and "bst-test-v1" in out
    finally:
        if os.path.ismount(ns_file):
            subprocess.run(["umount", str(ns_file)], check=True)
    assert not os.path.ismount(ns_file)


def test_no_mount_namespace_mounts_are_removed_by_delete(
    bastion_runc: str, runtime_root: str, bundle_factory: BundleFactory, container_id: str
) -> None:
    # runc allows a container without a mount namespace: its mounts land in the host's
    # namespace under the rootfs. bastion removes them at delete (runc leaves them).
    namespaces = [n for n in _default()["linux"]["namespaces"] if n["type"] != "mount"]
    edits: dict[str, Any] = {"linux.namespaces": namespaces}
    bundle = bundle_factory(args=["sh", "-c", "ls /; cat /proc/self/mountinfo | wc -l"], **edits)
    rootfs = os.path.join(bundle, "rootfs")
    result = subprocess.run(
        [bastion_runc, "--root", runtime_root, "run", "--keep", "-b", bundle, container_id],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert "bin" in result.stdout.split() and "work" not in result.stdout.split()
    with open("/proc/self/mountinfo") as f:
        assert f" {rootfs}/proc " in f.read()  # in the host's namespace, as runc does
    subprocess.run([bastion_runc, "--root", runtime_root, "delete", container_id], check=True)
    with open("/proc/self/mountinfo") as f:
        assert rootfs not in f.read()


@pytest.mark.parametrize(("propagation", "bind_ok"), [("unbindable", False), ("rslave", True)])
def test_rootfs_propagation(inside: Any, propagation: str, bind_ok: bool) -> None:
    caps = ["CAP_SYS_ADMIN", "CAP_KILL", "CAP_AUDIT_WRITE"]
    edits = {
        "linux.rootfsPropagation": propagation,
        "process.capabilities": dict.fromkeys(("bounding", "effective", "permitted"), caps),
    }
    out = inside(["sh", "-c", "mount --bind / /tmp 2>/dev/null; echo rc=$?"], **edits)
    assert (out.strip() == "rc=0") == bind_ok, out


def test_tmpcopyup_fills_the_tmpfs_with_what_it_covers(inside: Any) -> None:
    # Podman's --read-only asks for it on /tmp, /run, /var/tmp (runc's own mount option).
    mounts = [
        *_default()["mounts"],
        {
            "destination": "/etc",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["tmpcopyup", "nosuid", "mode=755"],
        },
    ]
    out = inside(
        [
            "sh",
            "-c",
            "cat /etc/hostname; grep -c root /etc/passwd; touch /etc/new && "
            "echo writable; grep ' /etc ' /proc/self/mounts | cut -d' ' -f3",
        ],
        mounts=mounts,
    )
    lines = out.split()
    assert lines[1] == "1" and "writable" in lines and lines[-1] == "tmpfs"
