"""detect / open_manager on fake mount tables, and resolve_cgroups_path."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from bastion.runtime.cgroups import detect, open_manager, resolve_cgroups_path
from bastion.runtime.cgroups.errors import (
    CgroupNotMountedError,
    CgroupPathError,
    SystemdCgroupUnsupportedError,
)
from bastion.runtime.cgroups.mounts import read_layout
from bastion.runtime.cgroups.v1.manager import V1Manager
from bastion.runtime.cgroups.v2.manager import V2Manager

if TYPE_CHECKING:
    from pathlib import Path

# This host's lines (Debian 12 VM, hybrid), with the tmpfs and an unrelated mount around them.
HYBRID = """\
23 1 0:21 / /sys rw,nosuid - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
LEGACY = """\
31 23 0:28 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw shared:9 - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw shared:10 - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/net\\040cls rw - cgroup cgroup rw,net_cls,clone_children
"""
UNIFIED = """\
30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
"""


def mountinfo(tmp_path: Path, text: str) -> str:
    path = tmp_path / "mountinfo"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("text", "mode"), [(HYBRID, "hybrid"), (LEGACY, "legacy"), (UNIFIED, "unified")]
)
def test_detect_modes(tmp_path: Path, text: str, mode: str) -> None:
    assert detect(mountinfo=mountinfo(tmp_path, text)) == mode


def test_hybrid_layout(tmp_path: Path) -> None:
    layout = read_layout("/sys/fs/cgroup", mountinfo(tmp_path, HYBRID))
    assert layout.unified == "/sys/fs/cgroup/unified"
    assert layout.controllers["memory"] == "/sys/fs/cgroup/memory"
    assert layout.controllers["name=systemd"] == "/sys/fs/cgroup/systemd"
    assert "unified" not in layout.controllers


def test_joined_and_escaped_hierarchies(tmp_path: Path) -> None:
    layout = read_layout("/sys/fs/cgroup/", mountinfo(tmp_path, LEGACY))
    assert layout.controllers == {
        "cpu": "/sys/fs/cgroup/cpu,cpuacct",
        "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
        "memory": "/sys/fs/cgroup/memory",
        "net_cls": "/sys/fs/cgroup/net cls",
    }
    assert layout.unified is None


def test_the_unified_hierarchy_of_a_hybrid_host_is_unified(tmp_path: Path) -> None:
    assert detect("/sys/fs/cgroup/unified", mountinfo=mountinfo(tmp_path, HYBRID)) == "unified"


def test_nothing_mounted(tmp_path: Path) -> None:
    with pytest.raises(CgroupNotMountedError) as info:
        detect(mountinfo=mountinfo(tmp_path, "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"))
    assert info.value.reference == "cgroup-not-mounted"


def test_the_mode_is_decided_once(tmp_path: Path) -> None:
    path = mountinfo(tmp_path, HYBRID)
    assert detect(mountinfo=path) == "hybrid"
    mountinfo(tmp_path, UNIFIED)
    assert detect(mountinfo=path) == "hybrid"


def test_open_manager_picks_the_manager(tmp_path: Path) -> None:
    v1 = open_manager("/bastion/x", mountinfo=mountinfo(tmp_path, HYBRID))
    assert isinstance(v1, V1Manager)
    assert v1.path == "/bastion/x"
    other = tmp_path / "other"
    other.mkdir()
    v2 = open_manager("/bastion//x/", mountinfo=mountinfo(other, UNIFIED))
    assert isinstance(v2, V2Manager)
    assert v2.directory == "/sys/fs/cgroup/bastion/x"


@pytest.mark.parametrize("path", ["bastion/x", "/bastion/../x"])
def test_open_manager_wants_a_clean_absolute_path(tmp_path: Path, path: str) -> None:
    with pytest.raises(CgroupPathError):
        open_manager(path, mountinfo=mountinfo(tmp_path, HYBRID))


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, "/bastion/c1"),
        ("", "/bastion/c1"),
        ("/machine/c1", "/machine/c1"),
        ("//machine/./c1/", "/machine/c1"),
        ("pods/c1", "/bastion/pods/c1"),
        ("./c1", "/bastion/c1"),
    ],
)
def test_resolve_cgroups_path(given: str | None, expected: str) -> None:
    assert resolve_cgroups_path(given, "c1") == expected


@pytest.mark.parametrize("given", ["/a/../b", "../escape", "a/..", "/", "/./"])
def test_resolve_refuses_dotdot_and_the_root(given: str) -> None:
    with pytest.raises(CgroupPathError) as info:
        resolve_cgroups_path(given, "c1")
    assert info.value.reference == "cgroup-path-invalid"
    assert info.value.where == "linux.cgroupsPath"


@pytest.mark.parametrize("container_id", ["", "a/b", ".."])
def test_resolve_refuses_ids_that_are_not_one_name(container_id: str) -> None:
    with pytest.raises(CgroupPathError):
        resolve_cgroups_path(None, container_id)


def test_systemd_paths_are_refused_clearly() -> None:
    with pytest.raises(SystemdCgroupUnsupportedError) as info:
        resolve_cgroups_path("system.slice:docker:abc", "abc")
    assert info.value.reference == "systemd-cgroup-unsupported"
    assert "systemd cgroup driver is not supported" in info.value.message
