"""The v2 manager on a real cgroup2 hierarchy: the host's own when it is unified, else the
cgroup2 mount of a hybrid host (/sys/fs/cgroup/unified, where cgroup.freeze, cgroup.events and
cgroup.kill work without controllers). Cgroups live at /bastion-test/bst-test-*, each test starts
its own `sleep` child, and fixtures remove both even when a test fails.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import TYPE_CHECKING

import pytest

from bastion.oci.spec import LinuxDeviceCgroup, LinuxResources
from bastion.runtime.cgroups import detect, open_manager
from bastion.runtime.cgroups.errors import CgroupError
from bastion.runtime.cgroups.v2.manager import V2Manager

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.privileged

PARENT = "/bastion-test"


def _unified_root() -> str:
    for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        try:
            if detect(root) == "unified":
                return root
        except CgroupError:
            continue
    pytest.skip("no cgroup2 hierarchy on this host")


@pytest.fixture
def manager(container_id: str) -> Iterator[V2Manager]:
    root = _unified_root()
    made = open_manager(f"{PARENT}/{container_id}", root=root)
    assert isinstance(made, V2Manager)
    try:
        assert made.create() is True
        yield made
    finally:
        made.destroy()
        try:
            os.rmdir(root + PARENT)
        except OSError:  # still used by another test
            pass


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen(["sleep", "300"])
    try:
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()


def _events(manager: V2Manager) -> dict[str, str]:
    with open(manager.directory + "/cgroup.events") as stream:
        return dict(line.split() for line in stream if line.strip())


def test_add_freeze_thaw_kill_destroy(manager: V2Manager, sleeper: subprocess.Popen[bytes]) -> None:
    manager.add(sleeper.pid)
    assert manager.pids() == [sleeper.pid]
    assert _events(manager)["populated"] == "1"
    with open(f"/proc/{sleeper.pid}/cgroup") as stream:
        assert f"0::{manager.path}\n" in stream.read()

    manager.freeze()
    assert _events(manager)["frozen"] == "1"
    assert manager.state() == "frozen"
    manager.thaw()
    assert _events(manager)["frozen"] == "0"
    assert manager.state() == "thawed"

    if not os.path.exists(manager.directory + "/cgroup.kill"):
        pytest.skip("no cgroup.kill (Linux < 5.14)")
    manager.kill(signal.SIGKILL)
    assert sleeper.wait(timeout=10) == -signal.SIGKILL
    deadline = time.monotonic() + 5
    while _events(manager)["populated"] != "0" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert manager.pids() == []

    manager.destroy()
    assert not manager.exists()
    assert not os.path.exists(manager.directory)


def test_sigterm_goes_pid_by_pid(manager: V2Manager, sleeper: subprocess.Popen[bytes]) -> None:
    manager.add(sleeper.pid)
    manager.kill(signal.SIGTERM)
    assert sleeper.wait(timeout=10) == -signal.SIGTERM
    assert manager.state() == "thawed"


def test_destroy_kills_what_is_left(manager: V2Manager, sleeper: subprocess.Popen[bytes]) -> None:
    manager.add(sleeper.pid)
    manager.freeze()
    manager.destroy()
    assert sleeper.wait(timeout=10) == -signal.SIGKILL
    assert not manager.exists()


def test_create_on_an_existing_cgroup_returns_false(manager: V2Manager) -> None:
    again = open_manager(manager.path, root=manager.root)
    assert again.create() is False


def test_apply_without_limits_touches_no_ancestor(manager: V2Manager) -> None:
    control = manager.root + "/cgroup.subtree_control"
    with open(control) as stream:
        before = stream.read()
    default_rules = (
        LinuxDeviceCgroup(allow=False, access="rwm"),
        LinuxDeviceCgroup(allow=True, type="c", major=1, minor=3, access="rwm"),
    )
    manager.apply(LinuxResources(devices=default_rules))
    with open(control) as stream:
        assert stream.read() == before
