"""Fakes for the cgroup unit tests: cgroupfs trees in tmp_path, and a recorder of file writes.

`FakeCgroupFs` imitates what the kernel does for the managers: a new cgroup directory comes with
its controller files (the managers only ever write files that exist, as on cgroupfs). Writes go
through `bastion.runtime.cgroups.files.write`, which the `fake_fs` fixture wraps to record
``(path relative to the fake root, value)`` in order, and to fail chosen writes with an errno.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING

import pytest

from bastion.runtime.cgroups import files
from bastion.runtime.cgroups.errors import CgroupFileError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

UNLIMITED = "9223372036854771712"

# The files a new cgroup gets in each v1 hierarchy, with the kernel's initial values.
V1_FILES: dict[str, dict[str, str]] = {
    "memory": {
        "memory.limit_in_bytes": UNLIMITED,
        "memory.memsw.limit_in_bytes": UNLIMITED,
        "memory.soft_limit_in_bytes": UNLIMITED,
        "memory.usage_in_bytes": "0",
        "memory.max_usage_in_bytes": "0",
        "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
        "memory.swappiness": "60",
    },
    "cpu": {
        "cpu.shares": "1024",
        "cpu.cfs_period_us": "100000",
        "cpu.cfs_quota_us": "-1",
        "cpu.cfs_burst_us": "0",
        "cpu.rt_period_us": "1000000",
        "cpu.rt_runtime_us": "0",
        "cpu.idle": "0",
        "cpu.stat": "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n",
    },
    "cpuacct": {
        "cpuacct.usage": "0",
        "cpuacct.usage_user": "0",
        "cpuacct.usage_sys": "0",
    },
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": ""},
    "pids": {"pids.max": "max", "pids.current": "0"},
    "devices": {"devices.allow": "", "devices.deny": "", "devices.list": "a *:* rwm\n"},
    "freezer": {"freezer.state": "THAWED"},
    "blkio": {
        "blkio.bfq.weight": "100",
        "blkio.bfq.weight_device": "",
        "blkio.throttle.read_bps_device": "",
        "blkio.throttle.write_bps_device": "",
        "blkio.throttle.read_iops_device": "",
        "blkio.throttle.write_iops_device": "",
    },
}
# Files of every v2 cgroup, plus those of each controller once enabled in the parent.
V2_CORE = {
    "cgroup.procs": "",
    "cgroup.controllers": "",
    "cgroup.subtree_control": "",
    "cgroup.events": "populated 0\nfrozen 0\n",
    "cgroup.freeze": "0",
    "cgroup.kill": "",
    "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\n",
}
V2_FILES: dict[str, dict[str, str]] = {
    "memory": {
        "memory.max": "max",
        "memory.low": "0",
        "memory.high": "max",
        "memory.swap.max": "max",
        "memory.current": "0",
        "memory.peak": "0",
        "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
    },
    "cpu": {"cpu.weight": "100", "cpu.max": "max 100000", "cpu.max.burst": "0", "cpu.idle": "0"},
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": ""},
    "pids": {"pids.max": "max", "pids.current": "0"},
    "io": {"io.weight": "default 100", "io.max": ""},
    "hugetlb": {"hugetlb.2MB.max": "max", "hugetlb.2MB.rsvd.max": "max", "hugetlb.1GB.max": "max"},
}


def write_text(path: str, text: str) -> None:
    with open(path, "w") as stream:
        stream.write(text)


def read_text(path: str) -> str:
    with open(path) as stream:
        return stream.read()


class FakeCgroupFs:
    """A cgroup root in tmp_path; `writes` lists the successful writes (relative path, value)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.writes: list[tuple[str, str]] = []
        self.failures: dict[str, list[int]] = {}
        self.v1: dict[str, str] = {}  # controller -> hierarchy mount point
        self.unified: str | None = None

    def rel(self, path: str) -> str:
        return os.path.relpath(path, self.root)

    def fail(self, rel: str, *errnos: int) -> None:
        """Make the next writes to `rel` fail with these errnos, one per write."""
        self.failures.setdefault(rel, []).extend(errnos)

    def add_v1(self, *controllers: str) -> None:
        for name in controllers:
            mount = os.path.join(self.root, name)
            os.makedirs(mount, exist_ok=True)
            self.populate(mount)
            self.v1[name] = mount
        cpuset_root = self.v1.get("cpuset")
        if cpuset_root:
            write_text(os.path.join(cpuset_root, "cpuset.cpus"), "0-3\n")
            write_text(os.path.join(cpuset_root, "cpuset.mems"), "0\n")

    def add_unified(self, name: str, controllers: str) -> str:
        mount = os.path.join(self.root, name) if name else self.root
        os.makedirs(mount, exist_ok=True)
        self.unified = mount
        self.populate(mount)
        write_text(os.path.join(mount, "cgroup.controllers"), controllers)
        return mount

    def populate(self, directory: str) -> None:
        """Give a new cgroup directory the files the kernel would."""
        made: dict[str, str] = {"cgroup.procs": "", "tasks": ""}
        if self.unified and (directory + "/").startswith(self.unified + "/"):
            made = dict(V2_CORE)
            parent = os.path.dirname(directory)
            if directory != self.unified:
                enabled = read_text(os.path.join(parent, "cgroup.subtree_control")).split()
                write_text(os.path.join(directory, "cgroup.controllers"), " ".join(enabled))
                made.pop("cgroup.controllers")
                for name in enabled:
                    made.update(V2_FILES.get(name, {}))
        else:
            for name, mount in self.v1.items():
                if (directory + "/").startswith(mount + "/"):
                    made.update(V1_FILES.get(name, {}))
            for name in V1_FILES:  # a hierarchy being added
                if os.path.basename(directory) == name and name not in self.v1:
                    made.update(V1_FILES[name])
        for filename, text in made.items():
            path = os.path.join(directory, filename)
            if not os.path.exists(path):
                write_text(path, text)

    def dir(self, rel: str) -> str:
        return os.path.join(self.root, rel.strip("/"))

    def read(self, rel: str) -> str:
        return read_text(self.dir(rel)).strip()

    def set(self, rel: str, text: str) -> None:
        write_text(self.dir(rel), text)

    def written(self, prefix: str = "") -> list[tuple[str, str]]:
        """The writes under `prefix` (a relative directory), with paths relative to it."""
        if not prefix:
            return list(self.writes)
        strip = prefix.strip("/") + "/"
        return [(p[len(strip) :], v) for p, v in self.writes if p.startswith(strip)]

    def subtree_control(self, path: str, value: str) -> None:
        """What the kernel does on a cgroup.subtree_control write: merge "+name" / "-name",
        and give the child cgroups the files of newly enabled controllers."""
        enabled = read_text(path).split()
        for word in value.split():
            name = word[1:]
            if word[0] == "+" and name not in enabled:
                enabled.append(name)
            elif word[0] == "-" and name in enabled:
                enabled.remove(name)
        write_text(path, " ".join(enabled))
        directory = os.path.dirname(path)
        for entry in os.scandir(directory):
            if entry.is_dir():
                write_text(os.path.join(entry.path, "cgroup.controllers"), " ".join(enabled))
                for name in enabled:
                    for filename, text in V2_FILES.get(name, {}).items():
                        target = os.path.join(entry.path, filename)
                        if not os.path.exists(target):
                            write_text(target, text)

    def enable_all(self, *controllers: str) -> None:
        """Mark `controllers` enabled in the unified root's subtree_control."""
        assert self.unified is not None
        write_text(os.path.join(self.unified, "cgroup.subtree_control"), " ".join(controllers))


# The package re-exports the function `detect`, which shadows the module of the same name.
DETECT = importlib.import_module("bastion.runtime.cgroups.detect")


@pytest.fixture(autouse=True)
def _fresh_layout_cache() -> Iterator[None]:
    DETECT._layouts.clear()
    yield
    DETECT._layouts.clear()


@pytest.fixture
def fake_fs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCgroupFs:
    """An empty fake cgroup root whose mkdir populates files and whose writes are recorded."""
    fake = FakeCgroupFs(str(tmp_path / "cgroup"))
    os.makedirs(fake.root)
    real_write, real_mkdir = files.write, files.mkdir

    def write(path: str, value: str) -> None:
        rel = fake.rel(path)
        pending = fake.failures.get(rel)
        if pending:
            raise CgroupFileError(path, value, pending.pop(0))
        if rel.endswith("cgroup.subtree_control"):
            fake.subtree_control(path, value)
        else:
            real_write(path, value)
        fake.writes.append((rel, value))  # only writes that succeeded

    def mkdir(path: str) -> bool:
        made = real_mkdir(path)
        if made:
            fake.populate(path)
        return made

    monkeypatch.setattr(files, "write", write)
    monkeypatch.setattr(files, "mkdir", mkdir)
    return fake
