"""containerd (Debian's 1.6, with containerd-shim-runc-v2) running containers with bastion-runc as
its runc binary.

One private containerd daemon per module (`clients.Containerd`: root, state and socket under a
short /tmp/bst-test-* directory, the CRI plugin off), with the busybox test image imported from an
OCI image layout built in Python. `ctr run --runc-binary` points the shim at a wrapper that logs
each call before running bastion-runc; the shim's own log of the runtime is the bundle's log.json.
"""

from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING

import pytest

from bastion_testing import bundle as _bundle
from bastion_testing import clients

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.privileged

IMAGE = clients.IMAGE


@pytest.fixture(scope="module")
def containerd(busybox_rootfs: str, bastion_runc: str) -> Iterator[clients.Containerd]:
    missing = clients.missing_binaries("containerd", "ctr", "containerd-shim-runc-v2")
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (scripts/setup installs them)")
    if not os.access(bastion_runc, os.X_OK):
        pytest.fail(f"{bastion_runc} is missing: run scripts/setup", pytrace=False)
    name = _bundle.new_name()
    # Short: the gRPC socket's path must fit in sun_path (108 bytes).
    workdir = tempfile.mkdtemp(prefix=f"{name}-ctrd-", dir="/tmp")
    daemon = clients.Containerd(
        workdir, bastion_runc, namespace=name, cgroup_parent=f"{_bundle.CGROUP_PARENT}/{name}"
    )
    try:
        daemon.start()
        daemon.import_image(busybox_rootfs)
        yield daemon
    finally:
        problems = daemon.close()
    if problems:
        pytest.fail("containerd's clean-up left these:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def task(containerd: clients.Containerd) -> Iterator[str]:
    """A detached `sleep 60` task (its id), killed and removed afterwards."""
    cid = _bundle.new_name()
    containerd.ctr("run", "-d", *containerd.run_flags(cid), IMAGE, cid, "sleep", "60", check=True)
    try:
        yield cid
    finally:
        # Not `task delete --force`: see test_kill_and_force_delete_of_a_stopped_task.
        containerd.ctr("task", "kill", "-s", "KILL", cid)
        containerd.wait_stopped(cid)
        containerd.ctr("task", "delete", cid)
        containerd.ctr("containers", "rm", cid)


def test_image_imported(containerd: clients.Containerd) -> None:
    images = containerd.ctr("images", "ls", "-q", check=True).stdout.split()
    assert images == [IMAGE]


def test_run_rm_echo(containerd: clients.Containerd) -> None:
    cid = _bundle.new_name()
    result = containerd.ctr("run", "--rm", *containerd.run_flags(cid), IMAGE, cid, "echo", "hi")
    assert result.returncode == 0, clients.describe_result(result) + "\n" + containerd.report(cid)
    assert result.stdout == "hi\n"
    calls = [c for c in containerd.calls() if cid in c]
    # The shim: create, start, delete; then its own `delete --force` when it shuts down.
    assert clients.verbs(calls)[:3] == ["create", "start", "delete"], clients.format_calls(calls)
    create = calls[0]
    root = os.path.join(containerd.runc_root, containerd.namespace)
    bundle = containerd.bundle(cid)
    assert create[:6] == ["--root", root, "--log", f"{bundle}/log.json", "--log-format", "json"]
    assert create[6:] == ["create", "--bundle", bundle, "--pid-file", f"{bundle}/init.pid", cid]
    assert cid not in containerd.ctr("containers", "ls", "-q", check=True).stdout.split()
    assert containerd.leftovers(cid) == [], containerd.report(cid)


def test_run_exit_code(containerd: clients.Containerd) -> None:
    cid = _bundle.new_name()
    result = containerd.ctr(
        "run", "--rm", *containerd.run_flags(cid), IMAGE, cid, "sh", "-c", "exit 7"
    )
    assert result.returncode == 7, clients.describe_result(result) + "\n" + containerd.report(cid)
    assert containerd.leftovers(cid) == [], containerd.report(cid)


def test_detached_kill_delete(containerd: clients.Containerd) -> None:
    cid = _bundle.new_name()
    try:
        containerd.ctr(
            "run", "-d", *containerd.run_flags(cid), IMAGE, cid, "sleep", "60", check=True
        )
        pid, status = containerd.tasks()[cid]
        assert status == "RUNNING", containerd.report(cid)
        with open(f"/proc/{pid}/cgroup") as f:
            assert f":{containerd.container_cgroup(cid)}\n" in f.read()
        containerd.ctr("task", "kill", "-s", "KILL", cid, check=True)
        assert containerd.wait_stopped(cid), containerd.report(cid)
        containerd.ctr("task", "delete", cid, check=True)
        containerd.ctr("containers", "rm", cid, check=True)
    finally:
        containerd.ctr("task", "delete", cid)
        containerd.ctr("containers", "rm", cid)
    verbs = clients.verbs(containerd.calls(), cid)
    assert verbs[:2] == ["create", "start"], containerd.report(cid)
    assert "kill" in verbs and "delete" in verbs, containerd.report(cid)
    kill = next(c for c in containerd.calls() if cid in c and clients.verb(c) == "kill")
    assert kill[-2:] == [cid, "9"], containerd.report(cid)
    assert cid not in containerd.tasks()
    assert containerd.leftovers(cid) == [], containerd.report(cid)


def test_task_exec(containerd: clients.Containerd, task: str) -> None:
    exec_args = ["--exec-id", "bst-exec", "--fifo-dir", containerd.fifo_dir]
    result = containerd.ctr("task", "exec", *exec_args, task, "echo", "hi")
    assert result.returncode == 0, clients.describe_result(result) + "\n" + containerd.report(task)
    assert result.stdout == "hi\n"
    execs = [c for c in containerd.calls() if task in c and clients.verb(c) == "exec"]
    assert len(execs) == 1, containerd.report(task)
    # The shim passes the process as a file and waits for the pid file (runc's --detach mode).
    assert {"--process", "--detach", "--pid-file"} <= set(execs[0]), containerd.report(task)


def test_pause_resume_ps(containerd: clients.Containerd, task: str) -> None:
    cgroup = containerd.container_cgroup(task)
    containerd.ctr("task", "pause", task, check=True)
    assert containerd.tasks()[task][1] == "PAUSED"
    assert clients.freezer_state(cgroup) == "FROZEN"
    containerd.ctr("task", "resume", task, check=True)
    assert containerd.tasks()[task][1] == "RUNNING"
    assert clients.freezer_state(cgroup) == "THAWED"
    # `ctr task ps` is `runc ps --format json`: the pids in the container's cgroup.
    listed = containerd.ctr("task", "ps", task, check=True).stdout.split()
    assert str(containerd.tasks()[task][0]) in listed, containerd.report(task)


def test_run_tty(containerd: clients.Containerd) -> None:
    cid = _bundle.new_name()
    argv = containerd.argv("run", "-t", "--rm", *containerd.run_flags(cid), IMAGE, cid, "sh")
    session = clients.PtySession(argv)
    try:
        session.expect(b"# ", timeout=30)
        session.send(b"echo bst-$((1+2))\r")
        session.expect(b"bst-3")
        session.send(b"exit\r")
        code = session.wait(timeout=30)
    finally:
        session.close()
    assert code == 0, session.output.decode(errors="replace") + "\n" + containerd.report(cid)
    create = next(c for c in containerd.calls() if cid in c and clients.verb(c) == "create")
    assert "--console-socket" in create, containerd.report(cid)
    assert containerd.leftovers(cid) == [], containerd.report(cid)


def test_kill_and_force_delete_of_a_stopped_task(containerd: clients.Containerd, task: str) -> None:
    containerd.ctr("task", "kill", "-s", "KILL", task, check=True)
    assert containerd.wait_stopped(task), containerd.report(task)
    # runc: "container not running" -> the shim answers "process already finished: not found".
    again = containerd.ctr("task", "kill", "-s", "KILL", task)
    assert "process already finished" in again.stderr, containerd.report(task)
    # `delete --force` kills first; on a stopped task that kill must count as done.
    result = containerd.ctr("task", "delete", "--force", task)
    assert result.returncode == 0, clients.describe_result(result) + "\n" + containerd.report(task)
