"""Where a container's processes land, by each way of attaching them (runtime/cgroups/attach.py).

The default path forks the intermediate with clone3(CLONE_INTO_CGROUP) into the cgroup2
directory and lets it write `0` to each v1 hierarchy's `tasks`; BASTION_TEST_CGROUP_ATTACH forces
the fallbacks: `fork` (no clone3: the child also joins cgroup2 through `cgroup.procs`) and
`procs` (the parent writes every `cgroup.procs`, the path before attach.py). Each must leave the
init, and an exec'd process, in exactly the same cgroups in every hierarchy, and every verb that
works on the cgroup must work after each.
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING

import pytest

from bastion.runtime.cgroups import attach
from bastion.runtime.cgroups.attach import ENV, FORCE_FORK, FORCE_PROCS
from bastion.runtime.cgroups.detect import open_manager
from bastion_testing.bundle import CGROUP_PARENT, read_config
from bastion_testing.runc import wait_no_leftovers

if TYPE_CHECKING:
    from pathlib import Path

    from bastion_testing.plugin import BundleFactory
    from bastion_testing.runc import Runc

pytestmark = pytest.mark.privileged

MODES = ("", FORCE_FORK, FORCE_PROCS)


def _env(mode: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if mode:
        env[ENV] = mode
    return env


def _placement(pid: int, cgroup: str) -> list[str]:
    """/proc/<pid>/cgroup with the container's cgroup path written `<c>`, in the file's order."""
    with open(f"/proc/{pid}/cgroup") as f:
        lines = f.read().splitlines()
    out = []
    for line in lines:
        number, controllers, path = line.split(":", 2)
        out.append(f"{number}:{controllers}:{'<c>' if path == cgroup else path}")
    return out


def _contained(placement: list[str]) -> None:
    # Every hierarchy but the named ones (name=systemd belongs to its manager, never touched).
    for line in placement:
        _, controllers, path = line.split(":", 2)
        if not controllers.startswith("name="):
            assert path == "<c>", placement


def _create(
    runc: Runc, bundle_factory: BundleFactory, container_id: str, mode: str
) -> tuple[str, str, int]:
    bundle = bundle_factory(args=["sleep", "600"])
    cgroup = read_config(bundle)["linux"]["cgroupsPath"]
    runc("create", "--bundle", bundle, container_id, check=True, env=_env(mode))
    return bundle, cgroup, int(runc.state(container_id)["pid"])


def test_every_attach_path_places_init_and_exec_alike(
    runc: Runc, bundle_factory: BundleFactory, tmp_path: Path
) -> None:
    seen: dict[str, tuple[list[str], list[str]]] = {}
    for mode in MODES:
        container_id = f"{os.path.basename(tmp_path)}-{mode or 'clone3'}"[-60:]
        bundle, cgroup, init = _create(runc, bundle_factory, container_id, mode)
        try:
            init_cgroups = _placement(init, cgroup)
            pid_file = tmp_path / f"exec-{mode}.pid"
            runc(
                "exec", "-d", "--pid-file", str(pid_file), container_id, "sleep", "600",
                check=True, env=_env(mode),
            )  # fmt: skip
            exec_cgroups = _placement(int(pid_file.read_text()), cgroup)
        finally:
            runc("delete", "--force", container_id, check=True)
        assert wait_no_leftovers(runc.root, container_id, bundle) == []
        _contained(init_cgroups)
        _contained(exec_cgroups)
        seen[mode] = (init_cgroups, exec_cgroups)
    assert seen[FORCE_FORK] == seen[""]
    assert seen[FORCE_PROCS] == seen[""]


@pytest.mark.parametrize("mode", MODES, ids=["clone3", "fork", "procs"])
def test_cgroup_verbs_after_each_attach_path(
    runc: Runc, bundle_factory: BundleFactory, container_id: str, mode: str
) -> None:
    bundle, cgroup, init = _create(runc, bundle_factory, container_id, mode)
    try:
        runc("start", container_id, check=True)
        runc("pause", container_id, check=True)
        assert runc.state(container_id)["status"] == "paused"  # the kernel's freezer state
        runc("resume", container_id, check=True)
        assert runc.state(container_id)["status"] == "running"
        runc("update", "--pids-limit", "42", container_id, check=True)
        stats = json.loads(runc("events", "--stats", container_id, check=True).stdout)["data"]
        assert stats["pids"]["limit"] == 42
        assert stats["pids"]["current"] >= 1
        assert init in json.loads(runc("ps", "--format", "json", container_id, check=True).stdout)
        runc("kill", container_id, "KILL", check=True)
        deadline = time.monotonic() + 10
        while runc.state(container_id)["status"] != "stopped":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        runc("delete", container_id, check=True)
    finally:
        runc("delete", "--force", container_id)
    assert wait_no_leftovers(runc.root, container_id, bundle, cgroup) == []


@pytest.mark.parametrize("mode", MODES, ids=["clone3", "fork", "procs"])
def test_the_child_is_born_where_each_path_says(container_id: str, mode: str) -> None:
    """In the child, before its join: clone3 placed it in cgroup2 only; os.fork nowhere; the
    parent's cgroup.procs writes everywhere. After the join: everywhere, each time."""
    path = f"{CGROUP_PARENT}/{container_id}"
    manager = open_manager(path)
    if manager.v2_directory() is None and mode == "":
        pytest.skip("no cgroup2 hierarchy to clone into")
    manager.create()
    previous = os.environ.get(ENV)
    if mode:
        os.environ[ENV] = mode
    else:
        os.environ.pop(ENV, None)
    read_end, write_end = os.pipe()
    go_read, go_write = os.pipe()
    try:
        pid, join = attach.fork(manager)
        if pid == 0:  # report the placement before and after the join, then leave
            try:
                os.read(go_read, 1)  # the parent's part is done (create's GO message)
                before = _placement(os.getpid(), path)
                join()
                after = _placement(os.getpid(), path)
                os.write(write_end, json.dumps([before, after]).encode())
            finally:
                os._exit(0)
        os.close(write_end)
        os.close(go_read)
        os.write(go_write, b"g")
        os.close(go_write)
        with os.fdopen(read_end) as f:
            before, after = json.loads(f.read())
        os.waitpid(pid, 0)
    finally:
        if previous is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = previous
        manager.destroy()
    placed = {line.split(":", 2)[1] for line in before if line.endswith(":<c>")}
    if mode == FORCE_PROCS:
        assert "" in placed or manager.v2_directory() is None
        _contained(before)
    elif mode == FORCE_FORK:
        assert placed == set()
    else:
        assert placed == {""}  # the cgroup2 line ("0::<path>") only
    _contained(after)
