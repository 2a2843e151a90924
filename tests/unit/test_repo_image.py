"""The test tooling itself: the busybox image, the helper program, bundles."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from typing import TYPE_CHECKING, Any

import pytest

from bastion_testing import bundle, helper, rootfs

if TYPE_CHECKING:
    from pathlib import Path

    from bastion_testing.plugin import BundleFactory


def _helper(image: str, *args: str) -> str:
    exe = os.path.join(image, helper.PATH_IN_ROOTFS.lstrip("/"))
    return subprocess.run([exe, *args], check=True, capture_output=True, text=True).stdout


def test_image_layout(busybox_rootfs: str) -> None:
    assert os.path.basename(busybox_rootfs).startswith("busybox-")
    assert busybox_rootfs.endswith(rootfs.builder_hash())
    assert os.access(os.path.join(busybox_rootfs, "bin/busybox"), os.X_OK)
    for applet in ("bin/sh", "bin/ls", "usr/bin/id", "bin/hostname", "sbin/ip"):
        assert os.readlink(os.path.join(busybox_rootfs, applet)) == "/bin/busybox"
    for rel in ("tmp", "var/tmp"):
        assert stat.S_IMODE(os.stat(os.path.join(busybox_rootfs, rel)).st_mode) == 0o1777
    for rel in ("dev", "proc", "sys", "etc", "root", "run", "home"):
        assert os.path.isdir(os.path.join(busybox_rootfs, rel))
    with open(os.path.join(busybox_rootfs, "etc/passwd")) as f:
        users = {line.split(":")[0]: line.split(":")[2] for line in f}
    assert users == {"root": "0", "bst": "1000", "nobody": "65534"}
    for rel in ("etc/group", "etc/hostname", "etc/hosts"):
        assert os.path.getsize(os.path.join(busybox_rootfs, rel)) > 0


def test_image_is_cached(busybox_rootfs: str) -> None:
    assert rootfs.busybox_rootfs() == busybox_rootfs


def test_helper_is_static(busybox_rootfs: str) -> None:
    with open(os.path.join(busybox_rootfs, helper.PATH_IN_ROOTFS.lstrip("/")), "rb") as f:
        elf = f.read()
    assert elf[:4] == b"\x7fELF"
    assert b"/lib64/ld-linux" not in elf  # no program interpreter: runs in an empty rootfs


def test_helper_subcommands_on_the_host(busybox_rootfs: str) -> None:
    caps = helper.parse(_helper(busybox_rootfs, "caps"))
    assert set(caps) == {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs"}
    assert all(len(caps[k]) == 16 for k in caps if k.startswith("Cap"))
    ids = helper.parse(_helper(busybox_rootfs, "ids"))
    assert ids["uid"] == str(os.getuid())
    assert ids["umask"].startswith("0")
    limits = helper.parse(_helper(busybox_rootfs, "rlimits"))
    assert len(limits) == 16
    assert limits["RLIMIT_NOFILE"].count(":") == 1
    forks = helper.parse(_helper(busybox_rootfs, "fork", "2", "0.01"))
    assert (forks["forked"], forks["failed"], forks["errno"]) == ("2", "0", "0")
    spin = helper.parse(_helper(busybox_rootfs, "spin", "0.2"))
    assert float(spin["wall"]) >= 0.2
    assert 0 < float(spin["cpu"]) <= float(spin["wall"]) + 0.05
    assert helper.parse(_helper(busybox_rootfs, "alloc", "8"))["alloc"] == "ok"
    assert helper.parse(_helper(busybox_rootfs, "pid"))["ppid"] == str(os.getpid())
    assert helper.parse(_helper(busybox_rootfs, "cwd"))["cwd"] == os.getcwd()
    assert helper.parse(_helper(busybox_rootfs, "sleep", "0.01"))["slept"] == "0.010"
    fds = helper.parse_records(_helper(busybox_rootfs, "fds"))
    assert {r["fd"] for r in fds} >= {"0", "1", "2"}
    assert any(" - proc " in line for line in _helper(busybox_rootfs, "mounts").splitlines())


def test_helper_exe_write_reports_errno(busybox_rootfs: str) -> None:
    # Writing to a running program's file fails with ETXTBSY: here, the helper's own.
    out = helper.parse(_helper(busybox_rootfs, "exe-write", "self"))
    assert (out["opened"], out["errname"]) == ("0", "ETXTBSY")


def test_helper_usage_error(busybox_rootfs: str) -> None:
    exe = os.path.join(busybox_rootfs, helper.PATH_IN_ROOTFS.lstrip("/"))
    assert subprocess.run([exe, "alloc"], capture_output=True).returncode == 2


def test_parse_keeps_spaces_in_the_last_value() -> None:
    text = "fd=3 target=/tmp/a b\nnot a record\nfd=4 target=pipe:[1]\n"
    assert helper.parse_records(text) == [
        {"fd": "3", "target": "/tmp/a b"},
        {"fd": "4", "target": "pipe:[1]"},
    ]
    assert helper.parse("a=1 b=2\na=3") == {"a": "3", "b": "2"}


def test_edit_sets_nested_keys_and_list_items() -> None:
    config: dict[str, Any] = {"process": {"args": ["sh"]}, "mounts": [{"destination": "/a"}]}
    bundle.edit(config, "linux.resources.memory.limit", 1 << 20)
    bundle.edit(config, "process.args.0", "ls")
    bundle.edit(config, "mounts.-1.options", ["ro"])
    assert config["linux"] == {"resources": {"memory": {"limit": 1 << 20}}}
    assert config["process"]["args"] == ["ls"]
    assert config["mounts"][0]["options"] == ["ro"]
    bundle.edit(config, "linux.resources", bundle.DELETE)
    bundle.edit(config, "absent.key", bundle.DELETE)
    bundle.edit(config, "mounts.0", bundle.DELETE)
    assert config == {"process": {"args": ["ls"]}, "mounts": [], "linux": {}}
    with pytest.raises(TypeError, match=r"process\.args\.0 is a str"):
        bundle.edit(config, "process.args.0.x", 1)


def test_make_bundle_writes_config_and_a_private_rootfs(
    tmp_path: Path, busybox_rootfs: str
) -> None:
    base = {"ociVersion": "1.1.0", "process": {"terminal": True, "args": ["sh"]}, "linux": {}}
    dotted: dict[str, Any] = {"process.cwd": "/tmp"}
    path = bundle.make_bundle(
        tmp_path,
        args=["echo", "hi"],
        spec=base,
        linux__resources__pids={"limit": 8},
        **dotted,
    )
    assert os.path.dirname(path) == str(tmp_path)
    config = bundle.read_config(path)
    name = config["hostname"]
    assert name.startswith("bst-test-")
    assert config["process"] == {"terminal": False, "args": ["echo", "hi"], "cwd": "/tmp"}
    assert config["root"] == {"path": "rootfs", "readonly": True}
    assert config["linux"] == {
        "cgroupsPath": f"/bastion-test/{name}",
        "resources": {"pids": {"limit": 8}},
    }
    assert base["process"] == {"terminal": True, "args": ["sh"]}  # the base is not changed
    root = os.path.join(path, "rootfs")
    assert os.path.isdir(root)
    assert not os.path.islink(root)
    assert os.readlink(os.path.join(root, "bin/sh")) == "/bin/busybox"
    assert os.path.isfile(os.path.join(root, helper.PATH_IN_ROOTFS.lstrip("/")))


def test_bundle_factory_uses_default_spec(bundle_factory: BundleFactory) -> None:
    path = bundle_factory(args=["true"], readonly=False)
    config = bundle.read_config(path)
    assert config["ociVersion"]
    assert config["process"]["args"] == ["true"]
    assert config["root"]["readonly"] is False


def _runc_spec(tmp_path: Path) -> dict[str, Any]:
    subprocess.run(["runc", "spec"], cwd=tmp_path, check=True)
    with open(tmp_path / "config.json") as f:
        spec: dict[str, Any] = json.load(f)
    os.unlink(tmp_path / "config.json")
    return spec


@pytest.mark.privileged
def test_bundle_runs_under_runc(
    tmp_path: Path, runtime_root: str, container_id: str, bundle_factory: BundleFactory
) -> None:
    """The reference runtime accepts our bundles: the image and helper work in a container."""
    script = "hostname; bst-helper caps; bst-helper fork 20 0.5; cat /sys/fs/cgroup/pids/pids.max"
    path = bundle_factory(
        args=["sh", "-c", script],
        spec=_runc_spec(tmp_path),
        linux__resources={"memory": {"limit": 64 << 20}, "pids": {"limit": 8}},
    )
    run = subprocess.run(
        ["runc", "--root", runtime_root, "run", "-b", path, container_id],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    hostname, caps, forks, pids_max = run.stdout.splitlines()
    assert hostname == bundle.read_config(path)["hostname"]
    assert helper.parse(caps)["NoNewPrivs"] == "1"
    assert helper.parse(forks)["errname"] == "EAGAIN"  # the pids limit held
    assert pids_max == "8"
