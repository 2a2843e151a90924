"""The v1 manager on this host's real cgroups (legacy or hybrid), at /bastion-test/bst-test-*.

Each test makes its own cgroup and its own `sleep` child, and removes both in fixtures even when
it fails; processes are only ever signalled by the pid the test started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from bastion.oci.spec import (
    LinuxCPU,
    LinuxDeviceCgroup,
    LinuxMemory,
    LinuxNetwork,
    LinuxPids,
    LinuxResources,
)
from bastion.runtime.cgroups import detect
from bastion.runtime.cgroups.errors import CgroupError, CgroupUnsupportedError
from bastion.runtime.cgroups.mounts import read_layout
from bastion.runtime.cgroups.v1.manager import V1Manager

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = pytest.mark.privileged

ROOT = "/sys/fs/cgroup"
PARENT = "/bastion-test"
MiB = 1 << 20


def _v1_layout() -> tuple[dict[str, str], str | None]:
    try:
        mode = detect(ROOT)
    except CgroupError:
        pytest.skip("no cgroups mounted")
    if mode == "unified":
        pytest.skip("cgroup v1 is not mounted on this host")
    layout = read_layout(ROOT)
    return layout.controllers, layout.unified


def _remove_parent(mounts: list[str]) -> None:
    for mount in mounts:  # best effort: another test may still use it
        try:
            os.rmdir(mount + PARENT)
        except OSError:
            pass


@pytest.fixture
def new_manager(container_id: str) -> Iterator[Callable[[], V1Manager]]:
    """Makes managers of /bastion-test/<container_id>, all destroyed afterwards."""
    controllers, unified = _v1_layout()
    made: list[V1Manager] = []

    def factory() -> V1Manager:
        manager = V1Manager(f"{PARENT}/{container_id}", controllers=controllers, unified=unified)
        made.append(manager)
        return manager

    try:
        yield factory
    finally:
        for manager in made:
            manager.destroy()
        mounts = [m for n, m in controllers.items() if not n.startswith("name=")]
        _remove_parent([*mounts, *([unified] if unified else [])])


@pytest.fixture
def manager(new_manager: Callable[[], V1Manager]) -> V1Manager:
    made = new_manager()
    assert made.create() is True
    return made


def _reap(child: subprocess.Popen[bytes]) -> None:
    """Kill and reap a test child, thawing its test freezer cgroup first if a failed test left
    it frozen (a task frozen by the v1 freezer cannot die)."""
    if child.poll() is None:
        try:
            for line in _read(f"/proc/{child.pid}/cgroup").splitlines():
                _, names, path = line.split(":", 2)
                if "freezer" in names.split(",") and path.startswith(PARENT + "/"):
                    with open(f"{ROOT}/freezer{path}/freezer.state", "w") as stream:
                        stream.write("THAWED")
        except OSError:
            pass
        child.kill()
    child.wait(timeout=30)


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen(["sleep", "300"])
    try:
        yield child
    finally:
        _reap(child)


def _leaves(manager: V1Manager) -> list[str]:
    controllers, unified = _v1_layout()
    mounts = {m for n, m in controllers.items() if not n.startswith("name=")}
    return [m + manager.path for m in sorted(mounts)] + (
        [unified + manager.path] if unified else []
    )


def _read(path: str) -> str:
    with open(path) as stream:
        return stream.read().strip()


def _task_state(pid: int) -> str:
    return _read(f"/proc/{pid}/stat").rsplit(")", 1)[1].split()[0]


def _wait_state(pid: int, wanted: str, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    state = _task_state(pid)
    while state != wanted and time.monotonic() < deadline:
        time.sleep(0.01)
        state = _task_state(pid)
    return state


def test_create_apply_add_stats_destroy(
    manager: V1Manager, sleeper: subprocess.Popen[bytes]
) -> None:
    leaves = _leaves(manager)
    assert all(os.path.isdir(leaf) for leaf in leaves)
    controllers, _ = _v1_layout()
    resources = LinuxResources(
        memory=LinuxMemory(limit=64 * MiB, reservation=32 * MiB),
        cpu=LinuxCPU(shares=512, quota=50000, period=100000),
        pids=LinuxPids(limit=16),
        devices=(
            LinuxDeviceCgroup(allow=False, access="rwm"),
            LinuxDeviceCgroup(allow=True, type="c", major=1, minor=3, access="rwm"),
        ),
    )
    manager.apply(resources)
    leaf = manager.path
    assert _read(controllers["memory"] + leaf + "/memory.limit_in_bytes") == str(64 * MiB)
    assert _read(controllers["cpu"] + leaf + "/cpu.cfs_quota_us") == "50000"
    assert _read(controllers["cpu"] + leaf + "/cpu.shares") == "512"
    assert _read(controllers["pids"] + leaf + "/pids.max") == "16"
    assert _read(controllers["devices"] + leaf + "/devices.list") == "c 1:3 rwm"

    manager.add(sleeper.pid)
    assert manager.pids() == [sleeper.pid]
    membership = _read(f"/proc/{sleeper.pid}/cgroup").splitlines()
    for name in ("memory", "cpu", "pids", "freezer", "cpuset"):
        if name in controllers:
            assert any(
                f":{name}:{leaf}" in line or f",{name}:{leaf}" in line for line in membership
            )
    stats = manager.stats()
    assert (stats.pids_current, stats.pids_limit, stats.memory_limit) == (1, 16, 64 * MiB)
    assert stats.oom_kills == 0

    manager.destroy()
    assert sleeper.wait(timeout=10) == -signal.SIGKILL
    assert not manager.exists()
    assert not any(os.path.exists(leaf) for leaf in leaves)
    manager.destroy()  # twice is fine


def test_cpuset_parents_inherit_so_tasks_can_join(
    manager: V1Manager, sleeper: subprocess.Popen[bytes]
) -> None:
    controllers, _ = _v1_layout()
    if "cpuset" not in controllers:
        pytest.skip("no v1 cpuset hierarchy")
    for directory in (controllers["cpuset"] + PARENT, controllers["cpuset"] + manager.path):
        assert _read(directory + "/cpuset.cpus")
        assert _read(directory + "/cpuset.mems")
    manager.add(sleeper.pid)  # ENOSPC if cpus/mems were empty
    assert manager.pids() == [sleeper.pid]


def test_create_on_an_existing_cgroup_returns_false(
    manager: V1Manager, new_manager: Callable[[], V1Manager]
) -> None:
    assert new_manager().create() is False
    assert manager.exists()


def test_freeze_and_thaw(manager: V1Manager, sleeper: subprocess.Popen[bytes]) -> None:
    controllers, _ = _v1_layout()
    if "freezer" not in controllers:
        pytest.skip("no v1 freezer")
    manager.add(sleeper.pid)
    assert _wait_state(sleeper.pid, "S") == "S"
    manager.freeze()
    assert manager.state() == "frozen"
    assert _read(controllers["freezer"] + manager.path + "/freezer.state") == "FROZEN"
    assert _wait_state(sleeper.pid, "D") == "D"  # frozen tasks show as uninterruptible
    manager.thaw()
    assert manager.state() == "thawed"
    assert _wait_state(sleeper.pid, "S") == "S"


def test_kill_with_sigterm_then_sigkill_on_a_frozen_cgroup(
    manager: V1Manager, sleeper: subprocess.Popen[bytes]
) -> None:
    manager.add(sleeper.pid)
    manager.kill(signal.SIGTERM)
    assert sleeper.wait(timeout=10) == -signal.SIGTERM
    second = subprocess.Popen(["sleep", "300"])
    try:
        manager.add(second.pid)
        manager.freeze()
        manager.kill(signal.SIGKILL)
        assert second.wait(timeout=10) == -signal.SIGKILL
        assert manager.state() == "thawed"
    finally:
        _reap(second)
    assert manager.pids() == []


def test_oom_kills_are_counted(manager: V1Manager) -> None:
    manager.apply(LinuxResources(memory=LinuxMemory(limit=32 * MiB, swap=32 * MiB)))
    hog = subprocess.Popen(
        [sys.executable, "-S", "-c", "import sys; sys.stdin.readline(); b = b'x' * (256 << 20)"],
        stdin=subprocess.PIPE,
    )
    try:
        manager.add(hog.pid)
        assert hog.stdin is not None
        hog.stdin.write(b"go\n")
        hog.stdin.close()
        assert hog.wait(timeout=30) == -signal.SIGKILL
    finally:
        _reap(hog)
    assert manager.oom_kills() >= 1
    assert manager.stats().oom_kills == manager.oom_kills()


def test_resources_for_unmounted_controllers_raise(manager: V1Manager) -> None:
    controllers, _ = _v1_layout()
    if "net_cls" in controllers:
        pytest.skip("net_cls is mounted here")
    with pytest.raises(CgroupUnsupportedError):
        manager.apply(LinuxResources(network=LinuxNetwork(class_id=0x100001)))
