"""Crash safety: a `create` killed at any step leaves debris that is never "running" and that
`delete --force` removes completely (state dir, temp dir, cgroups, processes, mounts).

`BASTION_TEST_CRASH_AT=<point>` makes `create` SIGKILL itself at that step (see the docstring of
bastion.runtime.create): after reserving the state directory, after creating the cgroup, after
forking the intermediate into the cgroup, and after the init built the rootfs.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import tempfile
import time
from typing import TYPE_CHECKING

import pytest

from bastion_testing.bundle import new_name
from bastion_testing.helper import PATH_IN_ROOTFS as HELPER
from bastion_testing.runc import (
    cgroup_dirs,
    cgroup_path,
    processes_in,
    state_entries,
    wait_no_leftovers,
)

if TYPE_CHECKING:
    from bastion_testing.plugin import BundleFactory
    from bastion_testing.runc import Runc

pytestmark = pytest.mark.privileged

#: bastion.runtime.crash lists them. "cgroup-v1" exists only on hybrid hosts (like this one).
CRASH_POINTS = ("state", "cgroup-v1", "cgroup", "fork", "mounts")
#: Where each crash point is, what must exist right after the crash (before `delete`).
MADE_BY: dict[str, dict[str, bool | None]] = {
    "state": {"cgroup": False, "processes": False},
    "cgroup-v1": {"cgroup": True, "processes": False},
    "cgroup": {"cgroup": True, "processes": False},
    "fork": {"cgroup": True, "processes": None},  # the intermediate may be dying already
    "mounts": {"cgroup": True, "processes": True},  # the init waits for "continue"
}


def _skip_unless_reachable(point: str) -> None:
    from bastion.runtime.cgroups.detect import detect

    if point == "cgroup-v1" and detect() != "hybrid":
        pytest.skip("the cgroup-v1 crash point is between the v1 and unified hierarchies")


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_create_killed_at_step_is_cleaned_by_delete_force(
    runc: Runc, bundle_factory: BundleFactory, container_id: str, point: str
) -> None:
    _skip_unless_reachable(point)
    bundle = bundle_factory(args=[HELPER, "sleep", "30"])
    env = {**os.environ, "BASTION_TEST_CRASH_AT": point}
    crashed = runc("create", "--bundle", bundle, container_id, env=env)
    assert crashed.returncode == -signal.SIGKILL, crashed

    # The crash really happened where it says: what exists matches the step.
    cgroup = cgroup_path(bundle)
    assert bool(cgroup_dirs(cgroup)) == MADE_BY[point]["cgroup"], cgroup_dirs(cgroup)
    if point == "cgroup-v1":  # everywhere but in the unified hierarchy
        assert not [d for d in cgroup_dirs(cgroup) if "/unified/" in d], cgroup_dirs(cgroup)
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
    assert state_entries(runc.root) == []
    assert runc("state", container_id).returncode != 0


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_plain_delete_removes_crashed_create(
    runc: Runc, bundle_factory: BundleFactory, container_id: str, point: str
) -> None:
    # The debris of a dead create is "stopped", and a stopped container needs no --force.
    _skip_unless_reachable(point)
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
    assert state_entries(runc.root) == []


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


#: The randomised sweep: how many creates, and when (ms after the process starts) each is killed.
SWEEP_TRIES = 30
SWEEP_WINDOW_MS = (5, 60)


@pytest.mark.slow
def test_create_killed_at_a_random_moment_is_cleaned_by_delete_force(
    runc: Runc, bundle_factory: BundleFactory
) -> None:
    # Each try has a cgroup parent of its own, which create makes: delete must remove it too.
    rng = random.Random()
    seed = rng.randrange(1 << 32)
    rng.seed(seed)
    for attempt in range(SWEEP_TRIES):
        container_id = new_name()
        parent = f"/bastion-test/{new_name()}"
        bundle = bundle_factory(
            args=[HELPER, "sleep", "30"], linux__cgroupsPath=f"{parent}/{container_id}"
        )
        delay = rng.uniform(*SWEEP_WINDOW_MS) / 1000
        with tempfile.TemporaryFile() as out:
            create = subprocess.Popen(
                runc.argv("create", "--bundle", bundle, container_id),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
            time.sleep(delay)
            create.kill()
            create.wait()
        what = f"try {attempt} (seed {seed}): killed {delay * 1000:.1f} ms into create"
        deleted = runc("delete", "--force", container_id)
        assert deleted.returncode == 0, f"{what}: {deleted.stderr}"
        assert wait_no_leftovers(runc.root, container_id, bundle, cgroup=parent) == [], what
        assert state_entries(runc.root) == [], what
