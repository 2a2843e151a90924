"""Crash safety: a `create` killed at any step leaves debris that is never "running" and that
`delete --force` removes completely (state dir, temp dir, cgroups, processes, mounts).

`BASTION_TEST_CRASH_AT=<point>` makes `create` SIGKILL itself at that step (see the docstring of
bastion.runtime.create): after reserving the state directory, after creating the cgroup, after
forking the intermediate into the cgroup, and after the init built the rootfs.
"""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING

import pytest

from bastion_testing.helper import PATH_IN_ROOTFS as HELPER
from bastion_testing.runc import cgroup_dirs, cgroup_path, processes_in, wait_no_leftovers

if TYPE_CHECKING:
    from bastion_testing.plugin import BundleFactory
    from bastion_testing.runc import Runc

pytestmark = pytest.mark.privileged

CRASH_POINTS = ("state", "cgroup", "fork", "mounts")
#: Where each crash point is, what must exist right after the crash (before `delete`).
MADE_BY: dict[str, dict[str, bool | None]] = {
    "state": {"cgroup": False, "processes": False},
    "cgroup": {"cgroup": True, "processes": False},
    "fork": {"cgroup": True, "processes": None},  # the intermediate may be dying already
    "mounts": {"cgroup": True, "processes": True},  # the init waits for "continue"
}


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_create_killed_at_step_is_cleaned_by_delete_force(
    runc: Runc, bundle_factory: BundleFactory, container_id: str, point: str
) -> None:
    bundle = bundle_factory(args=[HELPER, "sleep", "30"])
    env = {**os.environ, "BASTION_TEST_CRASH_AT": point}
    crashed = runc("create", "--bundle", bundle, container_id, env=env)
    assert crashed.returncode == -signal.SIGKILL, crashed

    # The crash really happened where it says: what exists matches the step.
    cgroup = cgroup_path(bundle)
    assert bool(cgroup_dirs(cgroup)) == MADE_BY[point]["cgroup"], cgroup_dirs(cgroup)
    if MADE_BY[point]["processes"] is not None:
        assert bool(processes_in(cgroup)) == MADE_BY[point]["processes"], processes_in(cgroup)

    # Every crash point is after the state directory was renamed into place, so the container
    # is listed; it must never show as running (its creator is dead).
    listed = {doc["id"]: doc for doc in runc.list()}
    assert container_id in listed, listed
    assert listed[container_id]["status"] in ("creating", "stopped"), listed[container_id]
    state = runc.state(container_id)
    assert state["status"] in ("creating", "stopped"), state
    assert state["pid"] == 0, state

    runc("delete", "--force", container_id, check=True)
    assert wait_no_leftovers(runc.root, container_id, bundle) == []
    assert os.listdir(runc.root) == []
    assert runc("state", container_id).returncode != 0


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_plain_delete_removes_crashed_create(
    runc: Runc, bundle_factory: BundleFactory, container_id: str, point: str
) -> None:
    # The debris of a dead create is "stopped", and a stopped container needs no --force.
    bundle = bundle_factory(args=[HELPER, "sleep", "30"])
    env = {**os.environ, "BASTION_TEST_CRASH_AT": point}
    assert runc("create", "--bundle", bundle, container_id, env=env).returncode == -signal.SIGKILL
    runc("delete", container_id, check=True)
    assert wait_no_leftovers(runc.root, container_id, bundle) == []


def test_create_after_crash_and_delete_reuses_the_id(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    bundle = bundle_factory(args=[HELPER, "pid"])
    env = {**os.environ, "BASTION_TEST_CRASH_AT": "mounts"}
    assert runc("create", "--bundle", bundle, container_id, env=env).returncode == -signal.SIGKILL
    runc("delete", "--force", container_id, check=True)
    result = runc("run", "--bundle", bundle, container_id)
    assert result.returncode == 0, result
    assert "pid=1 " in result.stdout
    assert wait_no_leftovers(runc.root, container_id, bundle) == []


def test_init_killed_before_start_then_delete(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    bundle = bundle_factory(args=[HELPER, "sleep", "30"])
    runc("create", "--bundle", bundle, container_id, check=True)
    state = runc.state(container_id)
    assert state["status"] == "created"
    os.kill(state["pid"], signal.SIGKILL)
    stopped = runc.wait_status(container_id, "stopped", timeout=10)
    assert stopped["pid"] == 0
    assert runc("start", container_id).returncode != 0
    runc("delete", container_id, check=True)  # no --force: it is stopped
    assert wait_no_leftovers(runc.root, container_id, bundle) == []
    assert os.listdir(runc.root) == []


def test_init_killed_while_running_then_delete(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    bundle = bundle_factory(args=["sh", "-c", f"{HELPER} sleep 30 & {HELPER} sleep 30"])
    runc("run", "--detach", "--bundle", bundle, container_id, check=True)
    state = runc.wait_status(container_id, "running")
    os.kill(state["pid"], signal.SIGKILL)
    runc.wait_status(container_id, "stopped", timeout=10)
    # The init's background child may outlive it (pid 1 of the namespace died, so the kernel
    # kills the rest); delete must not leave it either way.
    runc("delete", container_id, check=True)
    assert wait_no_leftovers(runc.root, container_id, bundle) == []
