"""Regression tests for the runtime's own safety: what a container must never reach.

- /proc/1/exe of a created (not started) container is the host's Python interpreter; a process
  sharing its pid namespace must not be able to open it (CVE-2019-5736).
- File descriptors of bastion-runc's caller do not leak into the container (except with
  --preserve-fds).
- The process starts in its configured cwd, inside the container's root (with and without
  pivot_root), and `/..` is the container's root.
- Symlinks in the image cannot send a mount destination outside the rootfs (CVE-2021-30465's
  class): they resolve as if the rootfs were `/`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from typing import TYPE_CHECKING, Any

import pytest

from bastion_testing.bundle import read_config, write_config
from bastion_testing.helper import PATH_IN_ROOTFS as HELPER
from bastion_testing.helper import parse, parse_records
from bastion_testing.runc import error_line, state_entries, wait_no_leftovers

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from bastion_testing.plugin import BundleFactory
    from bastion_testing.runc import Runc

pytestmark = pytest.mark.privileged

EACCES, EPERM = 13, 1


def _namespaces_joining_pid_of(pid: int) -> list[dict[str, str]]:
    return [
        {"type": "pid", "path": f"/proc/{pid}/ns/pid"},
        {"type": "network"},
        {"type": "ipc"},
        {"type": "uts"},
        {"type": "mount"},
        {"type": "cgroup"},
    ]


def _start_time(stat: str) -> str:
    # proc_pid_stat(5) field 22; comm (field 2) may hold spaces and ")".
    return stat.rpartition(")")[2].split()[19]


def test_host_interpreter_is_not_reachable_through_proc_exe(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    # A's init is bastion's Python process, waiting at the exec fifo until `start`.
    bundle_a = bundle_factory(args=[HELPER, "sleep", "30"])
    runc("create", "--bundle", bundle_a, container_id, check=True)
    init_pid = runc.state(container_id)["pid"]
    host_exe = os.readlink(f"/proc/{init_pid}/exe")
    assert "python" in os.path.basename(host_exe), host_exe  # what an attacker would overwrite
    with open(f"/proc/{init_pid}/stat") as f:
        init_start = _start_time(f.read())

    script = (
        f"{HELPER} pid; cat /proc/1/stat; echo; {HELPER} exe-write 1; "
        "readlink /proc/1/exe; echo readlink_status=$?"
    )
    bundle_b = bundle_factory(
        args=["sh", "-c", script], linux__namespaces=_namespaces_joining_pid_of(init_pid)
    )
    b_id = f"{container_id}-b"
    result = runc("run", "--bundle", bundle_b, b_id)
    assert result.returncode == 0, result
    records = parse_records(result.stdout)
    # B really is in A's pid namespace and its PID 1 is A's init (same start time).
    assert int(records[0]["pid"]) > 1, records
    stat_line = next(line for line in result.stdout.splitlines() if line.startswith("1 ("))
    assert _start_time(stat_line) == init_start
    report = parse(result.stdout)
    assert report["opened"] == "0", result.stdout
    assert int(report["errno"]) in (EACCES, EPERM), report
    assert report["readlink_status"] != "0", result
    # A is untouched and still starts.
    assert runc.state(container_id)["status"] == "created"
    runc("delete", "--force", container_id, check=True)
    assert wait_no_leftovers(runc.root, b_id, bundle_b) == []
    assert wait_no_leftovers(runc.root, container_id, bundle_a) == []


@pytest.fixture
def host_fd(tmp_path: Path) -> Iterator[int]:
    """An fd of a host file, inheritable (no O_CLOEXEC), above the stdio and fd 3."""
    path = tmp_path / "host-secret"
    path.write_text("secret\n")
    fd = os.open(path, os.O_RDONLY)
    try:
        # Keep it away from 3 so that "fd 3 is visible" below means "preserved", not "leaked".
        if fd <= 3:
            high = os.dup(fd)
            os.close(fd)
            fd = high
        os.set_inheritable(fd, True)
        yield fd
    finally:
        os.close(fd)


# Runs bastion-runc with fd 3 a copy of argv[1]'s fd (subprocess cannot renumber fds).
_DUP_TO_3 = "import os, sys; os.dup2(int(sys.argv[1]), 3); os.execv(sys.argv[2], sys.argv[2:])"


def _fds(output: str) -> dict[int, str]:
    return {int(r["fd"]): r.get("target", "") for r in parse_records(output) if "fd" in r}


def test_caller_fds_do_not_reach_the_container(
    runc: Runc, bundle_factory: BundleFactory, container_id: str, host_fd: int
) -> None:
    bundle = bundle_factory(args=[HELPER, "fds"])
    prefix = [sys.executable, "-c", _DUP_TO_3, str(host_fd)]
    result = runc("run", "--bundle", bundle, container_id, pass_fds=[host_fd], prefix=prefix)
    assert result.returncode == 0, result
    fds = _fds(result.stdout)
    assert sorted(fds) == [0, 1, 2], fds
    assert not any("host-secret" in target for target in fds.values())


def test_preserve_fds_passes_fd_3_only(
    runc: Runc, bundle_factory: BundleFactory, container_id: str, host_fd: int
) -> None:
    bundle = bundle_factory(args=[HELPER, "fds"])
    prefix = [sys.executable, "-c", _DUP_TO_3, str(host_fd)]
    result = runc(
        "run",
        "--preserve-fds",
        "1",
        "--bundle",
        bundle,
        container_id,
        pass_fds=[host_fd],
        prefix=prefix,
    )
    assert result.returncode == 0, result
    fds = _fds(result.stdout)
    assert sorted(fds) == [0, 1, 2, 3], fds
    assert fds[3].endswith("/host-secret"), fds


@pytest.mark.parametrize("pivot", ["pivot_root", "no-pivot"])
def test_cwd_and_root_are_the_containers(
    runc: Runc, bundle_factory: BundleFactory, container_id: str, pivot: str
) -> None:
    assert os.path.isdir("/work"), "the check below needs a host directory the image lacks"
    script = (
        f"{HELPER} cwd; echo root_ls=$(ls /.. | tr '\\n' ,); cd /..; cd ..; "
        f"echo up_ls=$(ls | tr '\\n' ,); {HELPER} mounts"
    )
    bundle = bundle_factory(args=["sh", "-c", script], process__cwd="/tmp")
    flags = ["--no-pivot"] if pivot == "no-pivot" else []
    result = runc("run", *flags, "--bundle", bundle, container_id)
    assert result.returncode == 0, result
    report = parse(result.stdout)
    assert report["cwd"] == "/tmp"
    names = os.listdir(os.path.join(bundle, "rootfs"))
    image = ",".join(sorted(n for n in names if not n.startswith("."))) + ","
    assert report["root_ls"] == image
    assert report["up_ls"] == image
    assert "work" not in report["root_ls"].split(",")
    # The mount at "/" inside is the bundle's rootfs, and no host mount point shows.
    mountinfo = [line.split() for line in result.stdout.splitlines() if " - " in line]
    roots = [fields for fields in mountinfo if fields[4] == "/"]
    assert len(roots) == 1, mountinfo
    # Field 4 is the mount's root inside its filesystem: the rootfs directory (bind mount).
    assert roots[0][3].endswith(f"/{os.path.basename(bundle)}/rootfs"), roots
    assert not any(fields[4].startswith("/work") for fields in mountinfo)


def _escape_targets() -> dict[str, str]:
    token = secrets.token_hex(4)
    return {
        "absolute": f"/tmp/bst-test-escape-{token}-abs",
        "relative": f"/tmp/bst-test-escape-{token}-rel",
    }


@pytest.fixture
def escape_targets() -> Iterator[dict[str, str]]:
    """Host paths a symlink in the image points at; removed afterwards, whatever happened."""
    targets = _escape_targets()
    for path in targets.values():
        assert not os.path.lexists(path)
    try:
        yield targets
    finally:
        for path in targets.values():
            # If a mount escaped, it is in the container's (dead) mount namespace, not ours;
            # all that can be left here is a directory the runtime made.
            shutil.rmtree(path, ignore_errors=True)


def _symlink_bundle(bundle_factory: BundleFactory, targets: dict[str, str], script: str) -> str:
    bundle = bundle_factory(args=["sh", "-c", script])
    rootfs = os.path.join(bundle, "rootfs")
    # /evil -> /../../../../tmp/X: absolute, with enough ".." to leave any rootfs on the host.
    os.symlink("/../../../.." + targets["absolute"], os.path.join(rootfs, "evil"))
    # /evil2 -> ../../../../../../tmp/Y: relative; the mount goes to /evil2/sub.
    os.symlink("../../../../../.." + targets["relative"], os.path.join(rootfs, "evil2"))
    config: dict[str, Any] = read_config(bundle)
    config["mounts"] += [
        {"destination": "/evil", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]},
        {"destination": "/evil2/sub", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]},
    ]
    write_config(bundle, config)
    return bundle


def test_symlinked_mount_destinations_stay_in_the_rootfs(
    runc: Runc,
    bundle_factory: BundleFactory,
    container_id: str,
    escape_targets: dict[str, str],
) -> None:
    script = f"{HELPER} mounts; touch /evil/marker /evil2/sub/marker && echo touched=1"
    bundle = _symlink_bundle(bundle_factory, escape_targets, script)
    rootfs = os.path.join(bundle, "rootfs")
    # The symlinks' targets exist inside the image, so they resolve (inside the rootfs).
    os.mkdir(rootfs + escape_targets["absolute"])
    os.mkdir(rootfs + escape_targets["relative"])
    result = runc("run", "--bundle", bundle, container_id)
    assert result.returncode == 0, result
    for path in escape_targets.values():
        assert not os.path.lexists(path), f"{path} was made on the host"
    # Inside, the tmpfs mounts sit where the symlinks resolve within the container's root.
    points = {line.split()[4]: line for line in result.stdout.splitlines() if " - " in line}
    assert " - tmpfs " in points[escape_targets["absolute"]]
    assert " - tmpfs " in points[escape_targets["relative"] + "/sub"]
    assert parse(result.stdout)["touched"] == "1"
    # The runtime made /tmp/Y/sub in the rootfs: the place the mount landed.
    assert os.path.isdir(rootfs + escape_targets["relative"] + "/sub")
    # The markers were written to the tmpfs mounts, not to the directories below them.
    assert os.listdir(rootfs + escape_targets["absolute"]) == []
    assert wait_no_leftovers(runc.root, container_id, bundle) == []


@pytest.mark.parametrize("on_host", ["absent-on-host", "present-on-host"])
def test_dangling_symlinked_mount_destination_is_refused(
    runc: Runc,
    bundle_factory: BundleFactory,
    container_id: str,
    escape_targets: dict[str, str],
    on_host: str,
) -> None:
    # Nothing at the symlinks' targets inside the rootfs: bastion refuses to create the target
    # of a dangling symlink rather than guess (mountpoints.Root.make). When the targets exist
    # on the host, a runtime that followed the symlinks there would mount over them and create
    # `sub` in the host's directory.
    if on_host == "present-on-host":
        for path in escape_targets.values():
            os.mkdir(path)
    bundle = _symlink_bundle(bundle_factory, escape_targets, f"{HELPER} mounts")
    result = runc("create", "--bundle", bundle, container_id)
    assert result.returncode > 0, result
    line = error_line(result.stderr)
    assert "error[mount-destination-dangling-symlink]" in line, line
    assert "/evil" in line
    for path in escape_targets.values():
        if on_host == "present-on-host":
            assert os.listdir(path) == [], f"the runtime wrote into {path} on the host"
        else:
            assert not os.path.lexists(path), f"{path} was made on the host"
    assert wait_no_leftovers(runc.root, container_id, bundle) == []
    assert state_entries(runc.root) == []


def test_the_init_shows_no_host_command_line(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    # Until `start` the init is a fork of bastion-runc, whose command line names the runtime
    # root and the bundle; the container must see "bastion-runc init" (runc shows "runc init").
    bundle = bundle_factory(args=["sleep", "60"])
    runc("create", "--bundle", bundle, container_id, check=True)
    pid = runc.state(container_id)["pid"]
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        from_host = f.read()
    from_inside = runc("exec", container_id, "cat", "/proc/1/cmdline", check=True).stdout
    shown = runc("exec", container_id, "ps", "-o", "pid,args", check=True).stdout
    assert from_host == b"bastion-runc init\0"
    assert from_inside == "bastion-runc init\0"
    assert "1 bastion-runc init" in shown
    for host_path in (runc.root, bundle, runc.binary, sys.executable, "/work", ".venv"):
        assert host_path not in shown
    runc("delete", "--force", container_id, check=True)
