"""`start` and the `delete` of a stopped container read what `create` recorded in state.json
(the freezer file, the cgroup directories) instead of loading the cgroup manager and ctypes; the
full path stays for everything else. These tests check the modules each verb loaded, and that
the full path still takes over where the lean one must not act."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bastion_testing.bundle import read_config
from bastion_testing.runc import Runc, wait_no_leftovers

if TYPE_CHECKING:
    from bastion_testing.plugin import BundleFactory

pytestmark = pytest.mark.privileged

SRC = Path(__file__).resolve().parents[2] / "src"
# The verb run as the lean launcher runs it, then the modules it loaded.
PROBE = """
import sys
sys.path.insert(0, {src!r})
from bastion.cli.runc.main import main
code = main({argv!r})
print(code, ",".join(sorted(sys.modules)))
"""
HEAVY = ("ctypes", "bastion._sys.signals", "bastion.runtime.cgroups")


def _verb(root: str, *argv: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-S", "-c", PROBE.format(src=str(SRC), argv=["--root", root, *argv])],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    code, modules = result.stdout.splitlines()[-1].split(" ", 1)
    assert code == "0", result.stderr
    return set(modules.split(","))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.startswith(HEAVY))


def _wait_stopped(runc: Runc, container_id: str) -> None:
    deadline = time.monotonic() + 10
    while runc.state(container_id)["status"] != "stopped":
        assert time.monotonic() < deadline, "the container did not stop"
        time.sleep(0.02)


def test_exec_places_its_process_from_the_record_without_a_manager(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    bundle = bundle_factory(args=["sleep", "600"])
    runc("create", "--bundle", bundle, container_id, check=True)
    try:
        runc("start", container_id, check=True)
        modules = _verb(runc.root, "exec", container_id, "true")
        assert "bastion.runtime.cgroups.v1.manager" not in modules
        assert "bastion.runtime.cgroups.v2.manager" not in modules
    finally:
        runc("delete", "--force", container_id)
    assert wait_no_leftovers(runc.root, container_id, bundle) == []


def test_start_and_delete_of_a_plain_container_load_no_manager_and_no_ctypes(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    bundle = bundle_factory(args=["/bin/true"])
    runc("create", "--bundle", bundle, container_id, check=True)
    try:
        assert _heavy(_verb(runc.root, "start", container_id)) == []
        _wait_stopped(runc, container_id)
        assert _heavy(_verb(runc.root, "delete", container_id)) == []
    finally:
        runc("delete", "--force", container_id)
    assert wait_no_leftovers(runc.root, container_id, bundle) == []


def test_delete_of_a_stopped_container_with_a_process_left_takes_the_full_path(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    """The init is gone but a process is still in the cgroup: rmdir fails, so delete kills it
    and removes the cgroup (the lean path must not leave it, nor fail)."""
    bundle = bundle_factory(args=["/bin/true"])
    cgroup = read_config(bundle)["linux"]["cgroupsPath"]
    runc("create", "--bundle", bundle, container_id, check=True)
    straggler = subprocess.Popen(["sleep", "600"])
    try:
        dirs = json.loads(Path(runc.root, container_id, "state.json").read_text())["cgroup_dirs"]
        assert dirs and all(d.endswith(cgroup) for d in dirs)
        for directory in dirs:
            Path(directory, "cgroup.procs").write_text(str(straggler.pid))
        runc("start", container_id, check=True)
        _wait_stopped(runc, container_id)
        modules = _verb(runc.root, "delete", container_id)
        assert "bastion.runtime.cgroups.detect" in modules  # the full path ran
        assert straggler.wait(timeout=10) == -9
    finally:
        straggler.kill()
        straggler.wait()
        runc("delete", "--force", container_id)
    assert wait_no_leftovers(runc.root, container_id, bundle) == []


def test_a_state_file_without_the_record_still_starts_pauses_and_deletes(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    """state.json as a bastion-runc before the lean paths wrote it: the manager answers."""
    bundle = bundle_factory(args=["sleep", "600"])
    runc("create", "--bundle", bundle, container_id, check=True)
    try:
        path = Path(runc.root, container_id, "state.json")
        doc = json.loads(path.read_text())
        del doc["freezer_file"], doc["cgroup_dirs"], doc["cgroup2_dir"]
        path.write_text(json.dumps(doc))
        runc("start", container_id, check=True)
        pid_file = Path(runc.root, "exec.pid")
        runc("exec", "-d", "--pid-file", str(pid_file), container_id, "sleep", "600", check=True)
        cgroup = read_config(bundle)["linux"]["cgroupsPath"]
        with open(f"/proc/{pid_file.read_text()}/cgroup") as f:
            lines = [line.split(":", 2) for line in f.read().splitlines()]
        assert all(path == cgroup for _, kind, path in lines if not kind.startswith("name="))
        runc("pause", container_id, check=True)
        assert runc.state(container_id)["status"] == "paused"
        runc("resume", container_id, check=True)
        assert runc.state(container_id)["status"] == "running"
        runc("kill", container_id, "KILL", check=True)
        _wait_stopped(runc, container_id)
        assert "bastion.runtime.cgroups.detect" in _verb(runc.root, "delete", container_id)
    finally:
        runc("delete", "--force", container_id)
    assert wait_no_leftovers(runc.root, container_id, bundle) == []


def test_a_paused_container_reads_paused_from_the_recorded_freezer_file(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    bundle = bundle_factory(args=["sleep", "600"])
    runc("create", "--bundle", bundle, container_id, check=True)
    try:
        freezer = json.loads(Path(runc.root, container_id, "state.json").read_text())[
            "freezer_file"
        ]
        assert freezer and os.path.isfile(freezer)
        runc("start", container_id, check=True)
        runc("pause", container_id, check=True)
        assert Path(freezer).read_text().strip() in ("FROZEN", "1")
        assert runc.state(container_id)["status"] == "paused"
        refused = runc("delete", container_id)
        assert refused.returncode != 0 and "invalid-state" in refused.stderr
        runc("resume", container_id, check=True)
        assert runc.state(container_id)["status"] == "running"
    finally:
        runc("delete", "--force", container_id)
    assert wait_no_leftovers(runc.root, container_id, bundle) == []


# -- the compiled front (cli/runc/front.c) and the lean Python path (cli/runc/lean.py) beside
# -- the full path

FULL = {**os.environ, "BASTION_TEST_NO_LEAN": "1"}


def _python_launcher(runc: Runc) -> Runc:
    """The Python launcher the front execs, called directly (no compiled front)."""
    bin_dir = os.path.dirname(runc.binary)
    return Runc(os.path.join(os.path.dirname(bin_dir), "libexec", "bastion-runc"), runc.root)


def _path(runc: Runc, *argv: str, env: dict[str, str] | None = None) -> str:
    """Run one call under strace: "front" if no Python ran, "lean" if Python ran but never
    looked up the CLI's main module (the archive stats a module's source before serving it),
    else "full"."""
    with tempfile.NamedTemporaryFile("r") as trace:
        prefix = ["strace", "-f", "-qq", "-o", trace.name, "-e", "trace=execve,newfstatat,stat"]
        result = runc(*argv, prefix=prefix, env=env)
        assert result.returncode == 0, result.stderr
        text = trace.read()
    if "python3" not in text.split("execve(", 2)[-1] and text.count("execve(") == 1:
        return "front"
    return "full" if "/cli/runc/main.py" in text else "lean"


@pytest.mark.parametrize("way", ["front", "lean", "full"])
def test_a_plain_cycle_leaves_the_same_state_every_way(
    runc: Runc, bundle_factory: BundleFactory, container_id: str, way: str
) -> None:
    """create, start, delete: state.json untouched by start, the cgroup gone from every
    hierarchy, the identity record kept in .gone; the compiled front, the Python launcher
    alone, and the test switch pick the path."""
    bundle = bundle_factory(args=["/bin/true"])
    env = FULL if way == "full" else None
    call = _python_launcher(runc) if way == "lean" else runc
    runc("create", "--bundle", bundle, container_id, check=True)
    try:
        state_dir = Path(runc.root, container_id)
        created = (state_dir / "state.json").read_bytes()
        dirs = json.loads(created)["cgroup_dirs"]
        identity = (state_dir / "identity.json").read_bytes()
        assert (state_dir / "plain").read_text().splitlines()[5:] == dirs
        assert _path(call, "start", container_id, env=env) == way
        assert (state_dir / "state.json").read_bytes() == created
        assert not (state_dir / "exec.fifo").exists()
        _wait_stopped(runc, container_id)
        assert _path(call, "delete", container_id, env=env) == way
        assert not state_dir.exists()
        assert [d for d in dirs if os.path.exists(d)] == []
        assert Path(runc.root, ".gone", f"{container_id}.json").read_bytes() == identity
    finally:
        runc("delete", "--force", container_id)
    assert wait_no_leftovers(runc.root, container_id, bundle) == []


def test_the_parent_cgroup_create_made_is_removed_by_the_front(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    """The parent cgroup this create made (.cgroup-parents) goes with the container."""
    parent = f"/bastion-test/{container_id}-parent"
    cgroup = f"{parent}/{container_id}"
    bundle = bundle_factory(args=["/bin/true"], linux__cgroupsPath=cgroup)
    runc("create", "--bundle", bundle, container_id, check=True)
    try:
        mounts = [
            d[: -len(cgroup)]
            for d in json.loads(Path(runc.root, container_id, "state.json").read_text())[
                "cgroup_dirs"
            ]
        ]
        assert all(os.path.isdir(m + parent) for m in mounts)
        assert _path(runc, "start", container_id) == "front"
        _wait_stopped(runc, container_id)
        assert _path(runc, "delete", container_id) == "front"
        assert [m for m in mounts if os.path.exists(m + parent)] == []
        assert not Path(runc.root, ".cgroup-parents").exists()
    finally:
        runc("delete", "--force", container_id)
        for m in mounts:
            with contextlib.suppress(FileNotFoundError):
                os.rmdir(m + parent)
    assert wait_no_leftovers(runc.root, container_id, bundle, cgroup) == []


def _every_way(runc: Runc, log: Path, *argv: str) -> list[tuple[int, str, list[dict[str, str]]]]:
    """The call through the front, through the Python launcher alone, then forced onto the
    full path: exit status, stderr and the --log lines (without their time) of each."""
    results = []
    for call, env in ((runc, None), (_python_launcher(runc), None), (runc, FULL)):
        log.unlink(missing_ok=True)
        result = call("--log", str(log), "--log-format", "json", *argv, env=env)
        lines = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        for line in lines:
            line.pop("time")
        results.append((result.returncode, result.stderr, lines))
    return results


def test_refusals_are_the_full_paths_own(
    runc: Runc, bundle_factory: BundleFactory, container_id: str, tmp_path: Path
) -> None:
    """Unknown id, start twice, delete of a running container: the same exit status, stderr
    and log line whichever way the call went (the fronts hand them all on)."""
    log = tmp_path / "runc.log"
    for verb in ("start", "delete"):
        front, lean, full = _every_way(runc, log, verb, "bst-test-no-such-container")
        assert front == lean == full and full[0] != 0 and "container-not-found" in full[1]
    bundle = bundle_factory(args=["sleep", "600"])
    runc("create", "--bundle", bundle, container_id, check=True)
    try:
        runc("start", container_id, check=True)
        for verb in ("start", "delete"):
            front, lean, full = _every_way(runc, log, verb, container_id)
            assert front == lean == full and full[0] != 0 and "invalid-state" in full[1]
            assert full[2] and full[2][0]["level"] == "error"
        assert runc.state(container_id)["status"] == "running"
    finally:
        runc("delete", "--force", container_id)
    assert wait_no_leftovers(runc.root, container_id, bundle) == []
