"""The HostConfig flags of `bastion run`, checked from inside the container: volumes (binds,
named, anonymous, copy-up), `--read-only` and `--tmpfs`, CPU and memory limits in the
container's cgroup, capabilities, `--ulimit`, `--init` (catatonit as PID 1, reaping),
`--security-opt`, `--privileged`, `--env-file`; `volume` verbs and `rm -v`; `inspect`.

One engine rig for the module (`bastion_testing.engine.engine_rig`): a private engine root
named `bst-test-flags-*`, cgroups under `/bastion-test/bst-test-flags-*`; its teardown checks
that no container, overlay mount, conmon or cgroup is left.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import TYPE_CHECKING, Any

import pytest

from bastion_testing.engine import Bastion, engine_rig
from bastion_testing.layers import directory, file, make_tar, tar_directory, write_oci_image
from bastion_testing.registry import skopeo_copy

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    with engine_rig(busybox_rootfs, prefix="bst-test-flags-") as b:
        yield b


@pytest.fixture(scope="module")
def volume_image(bastion: Bastion, busybox_rootfs: str, tmp_path_factory: Any) -> str:
    """An image whose config declares `Volumes: /seed` and has a file there."""
    work = str(tmp_path_factory.mktemp("bst-flags-image"))
    seed = make_tar([directory("seed", 0o750), file("seed/file", b"from the image\n")])
    write_oci_image(
        work,
        "withvolume",
        [tar_directory(busybox_rootfs), seed],
        config={"Cmd": ["/bin/sh"], "Volumes": {"/seed": {}}},
    )
    reference = bastion.image.replace("busybox:latest", "withvolume:1")
    skopeo_copy(
        f"oci:{work}:withvolume", f"docker://{reference}", "--dest-tls-verify=false", workdir=work
    )
    return reference


def _run(bastion: Bastion, *args: str) -> str:
    """`run --rm` of a shell script; its stdout (stderr joined, as `2>&1` in the script)."""
    result = bastion("run", "--rm", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _status_field(text: str, name: str) -> str:
    return next(line.split()[1] for line in text.splitlines() if line.startswith(name + ":"))


def test_binds_read_only_and_read_write(bastion: Bastion, tmp_path: Path) -> None:
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    out = _run(
        bastion,
        *("-v", f"{rw}:/rw", "-v", f"{ro}:/ro:ro", bastion.image),
        *("sh", "-c", "echo hi > /rw/f; echo x 2>&1 > /ro/f; echo status=$?"),
    )
    assert "Read-only file system" in out and "status=1" in out
    assert (rw / "f").read_text() == "hi\n"
    assert not (ro / "f").exists()
    missing = bastion("run", "--rm", "-v", f"{tmp_path}/absent:/x", bastion.image, "true")
    assert missing.returncode == 125
    assert "error[engine-invalid-option]" in missing.stderr
    assert bastion.ok("ps", "-a", "-q") == ""


def test_named_volume_persists_copies_up_and_is_not_removed_in_use(bastion: Bastion) -> None:
    _run(bastion, "-v", "bst-data:/data", bastion.image, "sh", "-c", "echo kept > /data/f")
    assert _run(bastion, "-v", "bst-data:/data", bastion.image, "cat", "/data/f") == "kept\n"
    (doc,) = json.loads(bastion.ok("volume", "inspect", "bst-data"))
    assert doc["Name"] == "bst-data" and doc["Driver"] == "local"
    assert doc["Mountpoint"] == os.path.join(bastion.root, "volumes", "bst-data", "_data")
    # copy-up: a new volume over the image's /etc starts with the image's files
    out = _run(bastion, "-v", "bst-etc:/etc", bastion.image, "cat", "/etc/passwd")
    assert out.startswith("root:")
    (etc,) = json.loads(bastion.ok("volume", "inspect", "bst-etc"))
    assert os.path.isfile(os.path.join(etc["Mountpoint"], "passwd"))
    cid = bastion.ok("create", "-v", "bst-data:/data", bastion.image, "true").strip()
    try:
        refused = bastion("volume", "rm", "bst-data")
        assert refused.returncode == 125
        assert "error[engine-volume-in-use]" in refused.stderr
        assert "bst-data" in bastion.ok("volume", "ls", "-q").split()
    finally:
        bastion.ok("rm", cid)
    bastion.ok("volume", "rm", "bst-data", "bst-etc")
    assert not {"bst-data", "bst-etc"} & set(bastion.ok("volume", "ls", "-q").split())
    assert not os.path.exists(doc["Mountpoint"])


def test_anonymous_volumes_go_with_rm_v_or_prune(bastion: Bastion) -> None:
    before = set(bastion.ok("volume", "ls", "-q").split())
    first = bastion.ok("create", "-v", "/anon", bastion.image, "true").strip()
    second = bastion.ok("create", "-v", "/anon", bastion.image, "true").strip()
    made = set(bastion.ok("volume", "ls", "-q").split()) - before
    assert len(made) == 2 and all(len(name) == 64 for name in made)
    mounts = bastion.inspect(first)["Mounts"]
    assert isinstance(mounts, list)
    (doc,) = mounts
    assert doc["Type"] == "volume" and doc["Destination"] == "/anon"
    bastion.ok("rm", "-v", first)
    assert set(bastion.ok("volume", "ls", "-q").split()) - before == made - {doc["Name"]}
    bastion.ok("rm", second)  # without -v its volume stays, unused: prune takes it
    assert len(set(bastion.ok("volume", "ls", "-q").split()) - before) == 1
    bastion.ok("volume", "prune", "-f")
    assert set(bastion.ok("volume", "ls", "-q").split()) - before == set()


def test_read_only_root_with_a_writable_tmpfs(bastion: Bastion) -> None:
    script = (
        "touch /x 2>&1; echo root=$?; touch /scratch/y && echo scratch=ok; "
        "touch /dev/shm/z && echo shm=ok; grep ' /scratch ' /proc/mounts"
    )
    out = _run(bastion, "--read-only", "--tmpfs", "/scratch", bastion.image, "sh", "-c", script)
    assert "Read-only file system" in out and "root=1" in out
    assert "scratch=ok" in out and "shm=ok" in out
    (line,) = [line for line in out.splitlines() if " /scratch " in line]
    assert line.split()[2] == "tmpfs" and "noexec" in line.split()[3]


def test_cpu_and_memory_limits_in_the_containers_cgroup(bastion: Bastion) -> None:
    files = (
        "cpu/cpu.cfs_quota_us",
        "cpu/cpu.cfs_period_us",
        "cpu/cpu.shares",
        "cpuset/cpuset.cpus",
        "memory/memory.limit_in_bytes",
        "memory/memory.memsw.limit_in_bytes",
    )
    out = _run(
        bastion,
        *("--cpus", "0.5", "--cpu-shares", "512", "--cpuset-cpus", "0"),
        *("-m", "64m", "--memory-swap", "96m", bastion.image),
        *("cat", *(f"/sys/fs/cgroup/{f}" for f in files)),
    )
    assert out.split() == ["50000", "100000", "512", "0", str(64 << 20), str(96 << 20)]
    unlimited = _run(
        bastion,
        *("-m", "64m", "--memory-swap", "-1", bastion.image),
        *("cat", "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"),
    )
    assert int(unlimited) > 1 << 60  # the kernel's "no limit"


def test_capabilities_no_new_privileges_and_privileged(bastion: Bastion) -> None:
    status = "cat /proc/self/status"
    default = _run(bastion, bastion.image, "sh", "-c", status)
    assert _status_field(default, "NoNewPrivs") == "0"
    assert _status_field(default, "Seccomp") == "2"
    only = _run(
        bastion,
        *("--cap-drop", "ALL", "--cap-add", "net_bind_service", bastion.image),
        *("sh", "-c", status),
    )
    net_bind_service = 10  # capabilities(7)
    assert int(_status_field(only, "CapEff"), 16) == 1 << net_bind_service
    assert int(_status_field(only, "CapBnd"), 16) == 1 << net_bind_service
    nnp = _run(bastion, "--security-opt", "no-new-privileges", bastion.image, "sh", "-c", status)
    assert _status_field(nnp, "NoNewPrivs") == "1"
    privileged = _run(
        bastion, "--privileged", bastion.image, "sh", "-c", f"{status}; ls /dev/loop-control"
    )
    # every capability the kernel knows that the engine holds (here: what this test holds)
    with open("/proc/self/status") as f:
        ours = int(_status_field(f.read(), "CapBnd"), 16)
    assert ours.bit_count() > 30
    assert int(_status_field(privileged, "CapEff"), 16) == ours
    assert _status_field(privileged, "Seccomp") == "0"
    assert "/dev/loop-control" in privileged  # the host's devices


def test_ulimit(bastion: Bastion) -> None:
    out = _run(
        bastion, "--ulimit", "nofile=100:200", bastion.image, "sh", "-c", "ulimit -n; ulimit -Hn"
    )
    assert out.split() == ["100", "200"]


def test_init_is_catatonit_and_reaps_orphans(bastion: Bastion) -> None:
    # an orphaned `sleep` is re-parented to PID 1: catatonit reaps it, so its /proc entry
    # goes (a PID 1 that does not reap leaves it a zombie until the loop gives up)
    script = (
        "md5sum /proc/1/exe; sh -c 'sleep 0.2 & echo $! > /tmp/orphan'; pid=$(cat /tmp/orphan); "
        "i=0; while [ -e /proc/$pid ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; "
        "if [ -e /proc/$pid ]; then grep State /proc/$pid/status; else echo reaped; fi"
    )
    out = _run(bastion, "--init", bastion.image, "sh", "-c", script)
    with open("/usr/bin/catatonit", "rb") as f:
        catatonit = hashlib.md5(f.read()).hexdigest()
    assert out.split() == [catatonit, "/proc/1/exe", "reaped"]


def test_env_file_and_label_file(bastion: Bastion, tmp_path: Path) -> None:
    env = tmp_path / "env"
    env.write_text('# a comment\n\n  FROM_FILE=one two\nQUOTED="kept"\nOVER=file\n')
    labels = tmp_path / "labels"
    labels.write_text("team=core\n# not a label\nempty\n")
    cid = bastion.ok(
        "create",
        *("--env-file", str(env), "-e", "OVER=flag", "--label-file", str(labels)),
        *("-l", "team=flag", bastion.image, "true"),
    ).strip()
    try:
        config = bastion.inspect(cid)["Config"]
        assert isinstance(config, dict)
        assert {"FROM_FILE=one two", 'QUOTED="kept"', "OVER=flag"} <= set(config["Env"])
        assert "OVER=file" not in config["Env"]
        assert config["Labels"] == {"team": "flag", "empty": ""}
    finally:
        bastion.ok("rm", cid)


def test_inspect_shows_the_host_config(bastion: Bastion, tmp_path: Path) -> None:
    cid = bastion.ok(
        "create",
        *("-v", f"{tmp_path}:/host:ro", "--tmpfs", "/scratch:size=1m", "--read-only"),
        *("-m", "64m", "--memory-swap", "-1", "--cpus", "1.5", "--cpu-shares", "256"),
        *("--cpuset-cpus", "0", "--cap-add", "SYS_PTRACE", "--cap-drop", "MKNOD"),
        *("--security-opt", "no-new-privileges", "--ulimit", "nproc=50:60", "--init"),
        bastion.image,
        "true",
    ).strip()
    try:
        doc = bastion.inspect(cid)
        host = doc["HostConfig"]
        assert isinstance(host, dict)
        assert host["Binds"] == [f"{tmp_path}:/host:ro"]
        assert host["Tmpfs"] == {"/scratch": "size=1m"}
        assert host["ReadonlyRootfs"] is True and host["Privileged"] is False
        assert (host["Memory"], host["MemorySwap"]) == (64 << 20, -1)
        assert (host["NanoCpus"], host["CpuShares"], host["CpusetCpus"]) == (15 * 10**8, 256, "0")
        assert (host["CapAdd"], host["CapDrop"]) == (["SYS_PTRACE"], ["MKNOD"])
        assert host["SecurityOpt"] == ["no-new-privileges"]
        assert host["Ulimits"] == [{"Name": "nproc", "Hard": 60, "Soft": 50}]
        assert host["Init"] is True
        assert doc["Mounts"] == [
            {
                "Type": "bind",
                "Source": str(tmp_path),
                "Destination": "/host",
                "Mode": "ro",
                "RW": False,
                "Propagation": "rprivate",
            }
        ]
    finally:
        bastion.ok("rm", cid)


@pytest.mark.parametrize(
    "flags",
    [
        ("--cap-add", "NOT_A_CAP"),
        ("-v", "bst-new:/x", "-v", "/y", "--cap-add", "NOT_A_CAP"),  # volumes made, then undone
        ("--ulimit", "nofile=200:100"),
        ("--memory-swap", "1g"),
        ("--security-opt", "apparmor=x"),
        ("-v", "relative/path:/x"),
        ("--tmpfs", "/x:bogus"),
        ("-v", "/tmp:/x", "-v", "/tmp:/x"),
        ("--volumes-from", "bst-some:rx"),  # not a mode
    ],
)
def test_bad_flags_are_refused_and_leave_nothing(bastion: Bastion, flags: tuple[str, ...]) -> None:
    before = bastion.ok("volume", "ls", "-q")
    result = bastion("create", *flags, bastion.image, "true")
    assert result.returncode == 125
    assert "error[engine-invalid-option]" in result.stderr
    assert bastion.ok("ps", "-a", "-q") == ""
    assert bastion.ok("volume", "ls", "-q") == before


def test_image_volumes_are_anonymous_copied_up_and_go_with_run_rm(
    bastion: Bastion, volume_image: str
) -> None:
    before = set(bastion.ok("volume", "ls", "-q").split())
    cid = bastion.ok(
        "run", "-d", volume_image, "sh", "-c", "cat /seed/file; echo more >> /seed/file"
    ).strip()
    try:
        assert bastion.ok("wait", cid).strip() == "0"
        assert bastion.ok("logs", cid) == "from the image\n"
        doc: dict[str, Any] = bastion.inspect(cid)
        (mount,) = doc["Mounts"]
        assert mount["Type"] == "volume" and mount["Destination"] == "/seed"
        with open(os.path.join(mount["Source"], "file")) as f:
            assert f.read() == "from the image\nmore\n"  # the container wrote to the volume
        assert oct(os.stat(mount["Source"]).st_mode & 0o777) == oct(0o750)
        assert doc["Config"]["Volumes"] == {"/seed": {}}
    finally:
        bastion.ok("rm", "-v", cid)
    # run --rm takes its anonymous volumes with it (Docker); --mount names one that stays
    assert _run(bastion, volume_image, "cat", "/seed/file") == "from the image\n"
    assert set(bastion.ok("volume", "ls", "-q").split()) == before
    _run(bastion, "--mount", "type=volume,source=bst-kept,target=/seed", volume_image, "true")
    assert set(bastion.ok("volume", "ls", "-q").split()) - before == {"bst-kept"}
    (kept,) = json.loads(bastion.ok("volume", "inspect", "bst-kept"))
    assert os.listdir(kept["Mountpoint"]) == ["file"]
    bastion.ok("volume", "rm", "bst-kept")


def test_volumes_from_shares_volumes_and_binds_with_their_modes(
    bastion: Bastion, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "host").write_text("from the host\n")
    source = bastion.ok(
        "create",
        *("--name", "bst-source", "-v", "bst-vf:/data", "-v", "/anon"),
        *("-v", f"{shared}:/bind:ro", "--tmpfs", "/scratch", bastion.image, "true"),
    ).strip()
    try:
        # the source never ran: its volumes are shared as they are, the tmpfs is not
        script = "echo written > /data/f && cat /bind/host && ! test -d /scratch && mount"
        out = _run(bastion, "--volumes-from", "bst-source", bastion.image, "sh", "-c", script)
        assert out.startswith("from the host\n")
        mounts = {line.split()[2]: line.split()[5] for line in out.splitlines()[1:]}
        assert mounts["/data"].startswith("(rw") and mounts["/anon"].startswith("(rw")
        assert mounts["/bind"].startswith("(ro")  # ro at the source stays ro
        (volume,) = json.loads(bastion.ok("volume", "inspect", "bst-vf"))
        with open(os.path.join(volume["Mountpoint"], "f")) as f:
            assert f.read() == "written\n"
        # :ro makes every mount read-only; the container's own -v keeps its destination
        script = "cat /data/f; touch /data/g 2>/dev/null || echo refused; ls /anon"
        own = bastion.ok(
            "create",
            *("--volumes-from", f"{source[:12]}:ro", "-v", "bst-own:/anon"),
            bastion.image,
            *("sh", "-c", script),
        ).strip()
        doc: dict[str, Any] = bastion.inspect(own)
        assert doc["HostConfig"]["VolumesFrom"] == [f"{source[:12]}:ro"]
        by_destination = {m["Destination"]: m for m in doc["Mounts"]}
        assert by_destination["/anon"]["Name"] == "bst-own"
        assert by_destination["/data"]["Name"] == "bst-vf" and not by_destination["/data"]["RW"]
        bastion.ok("start", own)
        assert bastion.ok("wait", own).strip() == "0"
        assert bastion.ok("logs", own) == "written\nrefused\n"
        bastion.ok("rm", own)
        # a volume another container shares is in use by both
        refused = bastion("volume", "rm", "bst-vf")
        assert "error[engine-volume-in-use]" in refused.stderr
        missing = bastion("create", "--volumes-from", "bst-nosuch", bastion.image, "true")
        assert missing.returncode == 125 and "engine-no-such-container" in missing.stderr
        assert bastion.ok("ps", "-a", "-q", "--no-trunc").split() == [source]
    finally:
        bastion.ok("rm", "-v", source)
    bastion.ok("volume", "rm", "bst-vf", "bst-own")


def test_seccomp_profile_from_a_file(bastion: Bastion, tmp_path: Path) -> None:
    profile = tmp_path / "deny-mkdir.json"
    profile.write_text(
        json.dumps(
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
                ],
            }
        )
    )
    script = "mkdir /tmp/d 2>&1; echo status=$?; touch /tmp/f && echo touched"
    denied = _run(
        bastion, "--security-opt", f"seccomp={profile}", bastion.image, "sh", "-c", script
    )
    assert "Operation not permitted" in denied and "status=1" in denied and "touched" in denied
    allowed = _run(bastion, bastion.image, "sh", "-c", script)
    assert "status=0" in allowed
