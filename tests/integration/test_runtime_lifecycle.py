"""The runtime-spec lifecycle through bastion-runc's command line, on real containers."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from bastion_testing import schemas
from bastion_testing.bundle import read_config, write_config
from bastion_testing.plugin import BundleFactory
from bastion_testing.runc import Runc

pytestmark = pytest.mark.privileged


def test_create_start_state_delete(
    runc: Runc, bundle_factory: BundleFactory, container_id: str, tmp_path: Path
) -> None:
    marker = "/tmp/started"
    bundle = bundle_factory(args=["sh", "-c", f"touch {marker}; exec sleep 60"], readonly=False)
    pid_file = tmp_path / "pid"
    runc("create", "--bundle", bundle, "--pid-file", str(pid_file), container_id, check=True)
    state = runc.state(container_id)
    assert state["status"] == "created"
    assert state["pid"] == int(pid_file.read_text())
    assert state["bundle"] == bundle
    # create does every set-up step, but the user process starts only at `start`.
    assert not os.path.exists(f"{bundle}/rootfs{marker}")
    runc("start", container_id, check=True)
    runc.wait_status(container_id, "running")
    deadline = time.monotonic() + 10
    while not os.path.exists(f"{bundle}/rootfs{marker}"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    # start twice: the spec says start of a container that is not `created` fails.
    again = runc("start", container_id, check=False)
    assert again.returncode != 0 and "invalid-state" in again.stderr
    # delete of a running container fails without --force and leaves it running.
    refused = runc("delete", container_id, check=False)
    assert refused.returncode != 0 and "invalid-state" in refused.stderr
    assert runc.state(container_id)["status"] == "running"
    runc("kill", container_id, "KILL", check=True)
    runc.wait_status(container_id, "stopped")
    assert runc.state(container_id)["pid"] == 0
    runc("delete", container_id, check=True)
    assert runc("state", container_id, check=False).returncode != 0
    assert not os.path.exists(os.path.join(runc.root, container_id))


@pytest.mark.parametrize("signal", ["TERM", "SIGTERM", "15", "term"])
def test_kill_accepts_names_and_numbers(
    runc: Runc, bundle_factory: BundleFactory, container_id: str, signal: str
) -> None:
    # busybox sh as PID 1 ignores SIGTERM unless it traps it, so trap it and exit 42: the exit
    # status of a foreground `run` proves the trap ran, so the signal was delivered as TERM.
    bundle = bundle_factory(
        args=["sh", "-c", "trap 'exit 42' TERM; touch /tmp/trapped; while :; do sleep 0.1; done"],
        readonly=False,
    )
    with tempfile.TemporaryFile() as out:
        run = subprocess.Popen(
            runc.argv("run", "--bundle", bundle, container_id),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
        try:
            deadline = time.monotonic() + 20
            while not os.path.exists(f"{bundle}/rootfs/tmp/trapped"):  # the trap is installed
                assert run.poll() is None and time.monotonic() < deadline
                time.sleep(0.02)
            runc("kill", container_id, signal, check=True)
            assert run.wait(timeout=20) == 42
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()


#: The default spec's namespaces but pid: the container's processes live in the host's.
HOST_PID_NAMESPACES = [{"type": t} for t in ("network", "ipc", "uts", "mount", "cgroup")]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_dead(pids: list[int], timeout: float = 10) -> list[int]:
    """The pids still alive (not zombies) after up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while (alive := [p for p in pids if _alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.02)
    return alive


def _pids(runc: Runc, container_id: str, count: int) -> list[int]:
    deadline = time.monotonic() + 20
    while True:
        pids: list[int] = json.loads(runc("ps", "-f", "json", container_id, check=True).stdout)
        if len(pids) >= count:
            return pids
        assert time.monotonic() < deadline, f"{container_id} has {pids}, expected {count}"
        time.sleep(0.02)


def test_kill_all_reaches_every_process(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    # In the host's pid namespace the init is not a pid-namespace init: SIGKILL to it alone
    # leaves its children alive (re-parented), so only a signal to every process stops them all.
    bundle = bundle_factory(
        args=["sh", "-c", "sleep 60 & sleep 60 & wait"], linux__namespaces=HOST_PID_NAMESPACES
    )
    runc("run", "-d", "-b", bundle, container_id, check=True)
    runc.wait_status(container_id, "running")
    pids = _pids(runc, container_id, 3)
    runc("kill", "--all", container_id, "9", check=True)
    assert _wait_dead(pids) == []
    runc.wait_status(container_id, "stopped")
    runc("delete", container_id, check=True)


def test_kill_all_signals_children_of_an_init_that_ignores_it(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    # A pid-namespace init ignores a SIGTERM it does not handle; its children do not: after
    # `kill --all TERM` the children are gone and the init is still there.
    bundle = bundle_factory(args=["sh", "-c", "sleep 60 & sleep 60 & wait; wait; sleep 60"])
    runc("run", "-d", "-b", bundle, container_id, check=True)
    runc.wait_status(container_id, "running")
    init = runc.state(container_id)["pid"]
    children = [p for p in _pids(runc, container_id, 3) if p != init]
    assert len(children) == 2
    runc("kill", "--all", container_id, "TERM", check=True)
    assert _wait_dead(children) == []
    assert _alive(init)
    runc("kill", container_id, "KILL", check=True)
    runc.wait_status(container_id, "stopped")
    runc("delete", container_id, check=True)


def test_unknown_signal_is_a_usage_error(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    bundle = bundle_factory(args=["sleep", "60"])
    runc("create", "-b", bundle, container_id, check=True)
    result = runc("kill", container_id, "SIGNOPE", check=False)
    assert result.returncode == 2
    assert "unknown signal" in result.stderr
    runc(
        "delete", container_id, check=True
    )  # a created container can be deleted (its program never ran)


def test_run_returns_exit_status(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    bundle = bundle_factory(args=["sh", "-c", "exit 7"])
    result = runc("run", "-b", bundle, container_id, check=False)
    assert result.returncode == 7, result.stderr
    # run deletes the container once it exits, as runc does.
    assert runc("list", "-q", check=True).stdout.split() == []


def test_config_edits_after_create_have_no_effect(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    bundle = bundle_factory(args=["sh", "-c", "echo original"])
    runc("create", "-b", bundle, container_id, check=True)
    config = read_config(bundle)
    config["process"]["args"] = ["sh", "-c", "echo edited"]
    config["hostname"] = "edited"
    write_config(bundle, config)
    proc = subprocess.Popen([runc.binary, "--root", runc.root, "start", container_id])
    assert proc.wait(timeout=30) == 0
    runc.wait_status(container_id, "stopped")
    runc("delete", container_id, check=True)


def test_created_container_output_comes_from_the_original_config(
    runc: Runc, bundle_factory: BundleFactory, container_id: str, tmp_path: Path
) -> None:
    bundle = bundle_factory(args=["sh", "-c", "echo original; hostname"])
    out = tmp_path / "out"
    with out.open("w") as f:
        subprocess.run(
            [runc.binary, "--root", runc.root, "create", "-b", bundle, container_id],
            stdout=f,
            stderr=subprocess.DEVNULL,
            check=True,
            timeout=30,
        )
    hostname = read_config(bundle)["hostname"]
    config = read_config(bundle)
    config["process"]["args"] = ["sh", "-c", "echo edited"]
    write_config(bundle, config)
    runc("start", container_id, check=True)
    runc.wait_status(container_id, "stopped")
    assert out.read_text().split() == ["original", hostname]
    runc("delete", container_id, check=True)


def test_list_formats(runc: Runc, bundle_factory: BundleFactory, container_id: str) -> None:
    bundle = bundle_factory(args=["sleep", "60"])
    runc("create", "-b", bundle, container_id, check=True)
    assert runc("list", "-q", check=True).stdout.split() == [container_id]
    table = runc("list", check=True).stdout.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert table[1].split()[:3] == [container_id, str(runc.state(container_id)["pid"]), "created"]
    (entry,) = json.loads(runc("list", "--format", "json", check=True).stdout)
    assert entry["id"] == container_id and entry["status"] == "created"
    runc("delete", "--force", container_id, check=True)


def test_state_is_valid_against_the_oci_schema(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    if not schemas.AVAILABLE:
        pytest.skip(schemas.MISSING_REASON)
    bundle = bundle_factory(args=["sleep", "60"], annotations={"org.example/key": "value"})
    runc("create", "-b", bundle, container_id, check=True)
    for step in ("created", "running", "stopped"):
        if step == "running":
            runc("start", container_id, check=True)
            runc.wait_status(container_id, "running")
        if step == "stopped":
            runc("kill", container_id, "KILL", check=True)
            runc.wait_status(container_id, "stopped")
        state = runc.state(container_id)
        assert state["status"] == step
        assert schemas.errors("state-schema.json", state) == []
        assert state["annotations"] == {"org.example/key": "value"}
    runc("delete", container_id, check=True)


def test_spec_and_features(runc: Runc, tmp_path: Path) -> None:
    runc("spec", "--bundle", str(tmp_path), check=True)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["process"]["args"] == ["sh"] and config["root"]["path"] == "rootfs"
    again = runc("spec", "--bundle", str(tmp_path), check=False)
    assert again.returncode != 0 and "already exists" in again.stderr
    features = json.loads(runc("features", check=True).stdout)
    assert "CAP_SYS_ADMIN" in features["linux"]["capabilities"]
    assert set(features["linux"]["namespaces"]) >= {"pid", "network", "mount", "user", "time"}
    if schemas.AVAILABLE:
        assert schemas.errors("features-schema.json", features) == []


def test_systemd_cgroup_is_refused_clearly(
    bastion_runc: str, runtime_root: str, bundle_factory: BundleFactory, container_id: str
) -> None:
    bundle = bundle_factory(args=["true"])
    result = subprocess.run(
        [
            bastion_runc,
            "--root",
            runtime_root,
            "--systemd-cgroup",
            "create",
            "-b",
            bundle,
            container_id,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert "systemd cgroup driver is not supported" in result.stderr
    assert not os.path.exists(os.path.join(runtime_root, container_id))


def test_log_json(bastion_runc: str, runtime_root: str, tmp_path: Path) -> None:
    log = tmp_path / "log.json"
    result = subprocess.run(
        [
            bastion_runc,
            "--root",
            runtime_root,
            "--log",
            str(log),
            "--log-format",
            "json",
            "state",
            "bst-test-missing",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    (line,) = log.read_text().splitlines()
    entry = json.loads(line)
    assert entry["level"] == "error" and "container-not-found" in entry["msg"]


def test_identity_is_published_before_the_first_exec(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    from bastion.runtime.container import Container

    edits: dict[str, Any] = {
        "annotations": {
            "bastion.name": "web-1",
            "bastion.image": "busybox:test",
            "bastion.label.team": "sec",
        },
    }
    bundle = bundle_factory(args=["sleep", "60"], **edits)
    runc("create", "-b", bundle, container_id, check=True)
    state = runc.state(container_id)
    identity = Container.load(runc.root, container_id).identity()
    assert (identity.id, identity.name, identity.image) == (container_id, "web-1", "busybox:test")
    assert identity.labels == {"team": "sec"}
    assert identity.pid == state["pid"]
    cgroup = read_config(bundle)["linux"]["cgroupsPath"]
    assert identity.cgroup_path == cgroup
    assert identity.cgroup_ids == (os.stat(f"/sys/fs/cgroup/unified{cgroup}").st_ino,)
    runc("delete", "--force", container_id, check=True)
    # delete keeps the record a minute in GONE_DIR, for a sensor still evaluating its events
    from bastion.identity import GONE_DIR

    with open(os.path.join(runc.root, GONE_DIR, f"{container_id}.json")) as f:
        assert json.load(f)["name"] == "web-1"


def test_delete_removes_the_parent_cgroups_create_made_once_empty(
    runc: Runc, bundle_factory: BundleFactory
) -> None:
    from bastion_testing import leaks
    from bastion_testing.bundle import new_name
    from bastion_testing.runc import cgroup_dirs, wait_no_leftovers

    # a parent of the test's own that exists before any create, in every hierarchy
    before = f"/bastion-test/{new_name()}"
    made = [h + before for h in leaks.hierarchies()]
    for path in made:
        os.makedirs(path)
    try:
        parent = f"{before}/{new_name()}/{new_name()}"
        first, second = new_name(), new_name()
        bundles = {
            cid: bundle_factory(args=["sleep", "60"], linux__cgroupsPath=f"{parent}/{cid}")
            for cid in (first, second)
        }
        for cid, bundle in bundles.items():
            runc("create", "--bundle", bundle, cid, check=True)
        runc("delete", first, check=True)
        assert cgroup_dirs(parent), "the parent still holds the second container's cgroup"
        runc("delete", second, check=True)
        top = parent.rpartition("/")[0]
        assert cgroup_dirs(top) == []  # both levels the first create made
        for cid, bundle in bundles.items():
            assert wait_no_leftovers(runc.root, cid, bundle) == []
        assert sorted(cgroup_dirs(before)) == sorted(made)  # the parent that existed stays
    finally:
        for path in made:
            with contextlib.suppress(OSError):  # a failed delete left a child: the leak check
                os.rmdir(path)
