"""Podman (Debian's 4.3, with conmon) running containers with bastion-runc as its OCI runtime.

One private Podman environment per module (`clients.Podman`: its own root, runroot, tmpdir,
containers.conf, vfs storage, file locks, `--network none`, cgroups under /bastion-test), with the
busybox test image imported as `localhost/bst-busybox:test`. bastion-runc is called through a
wrapper that logs each call, so a failure says exactly what Podman asked of the runtime.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import TYPE_CHECKING

import pytest

from bastion_testing import bundle as _bundle
from bastion_testing import clients

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.privileged

IMAGE = clients.IMAGE


@pytest.fixture(scope="module")
def podman(busybox_rootfs: str, bastion_runc: str) -> Iterator[clients.Podman]:
    missing = clients.missing_binaries("podman", "conmon")
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (scripts/setup installs them)")
    if not os.access(bastion_runc, os.X_OK):
        pytest.fail(f"{bastion_runc} is missing: run scripts/setup", pytrace=False)
    name = _bundle.new_name()
    workdir = tempfile.mkdtemp(prefix=f"{name}-pm-", dir="/tmp")
    env = clients.Podman(workdir, bastion_runc, f"{_bundle.CGROUP_PARENT}/{name}")
    try:
        env.import_image(busybox_rootfs)
        yield env
    finally:
        problems = env.close()
    if problems:
        pytest.fail("Podman's clean-up left these:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def sleeper(podman: clients.Podman) -> Iterator[str]:
    """A detached `sleep 60` container (its id), force-removed afterwards."""
    started = podman(
        "run", "-d", *podman.run_flags, IMAGE, "sh", "-c", "echo bst-logged; exec sleep 60"
    )
    assert started.returncode == 0, clients.describe_result(started) + "\n" + podman.report()
    cid = started.stdout.strip().splitlines()[-1]
    try:
        yield cid
    finally:
        podman("rm", "-f", "-t", "0", cid)


def test_run_rm_echo(podman: clients.Podman) -> None:
    before = len(podman.calls())
    result = podman("run", "--rm", *podman.run_flags, IMAGE, "echo", "hi")
    calls = podman.calls()[before:]
    assert result.returncode == 0, clients.describe_result(result) + "\n" + podman.report()
    assert result.stdout == "hi\n"
    # conmon creates (with Podman's bundle and pid file), Podman starts, the clean-up deletes.
    assert clients.verbs(calls) == ["create", "start", "delete"], clients.format_calls(calls)
    create = calls[0]
    cid = create[-1]
    userdata = f"{podman.runroot}/vfs-containers/{cid}/userdata"
    assert create == [
        "--log-format=json",
        "--log",
        f"{userdata}/oci-log",
        "create",
        "--bundle",
        f"{podman.root}/vfs-containers/{cid}/userdata",
        "--pid-file",
        f"{userdata}/pidfile",
        cid,
    ], clients.format_calls(calls)
    assert cid not in podman("ps", "-a", "-q", "--no-trunc", check=True).stdout.split()
    assert podman.leftovers(cid) == [], podman.report(cid)


def test_run_exit_code(podman: clients.Podman) -> None:
    result = podman("run", "--rm", *podman.run_flags, IMAGE, "sh", "-c", "exit 7")
    assert result.returncode == 7, clients.describe_result(result) + "\n" + podman.report()


def test_detached_logs_stop_rm(podman: clients.Podman, sleeper: str) -> None:
    cid = sleeper
    info = podman.inspect(cid)
    assert info["State"]["Status"] == "running", podman.report(cid)
    pid = info["State"]["Pid"]
    with open(f"/proc/{pid}/cgroup") as f:
        assert f":{podman.container_cgroup(cid)}\n" in f.read()
    logs = podman("logs", cid, check=True)
    assert logs.stdout == "bst-logged\n"
    # busybox sleep as PID 1 ignores SIGTERM: stop sends KILL after the 1 s timeout.
    started = time.monotonic()
    podman("stop", "-t", "1", cid, check=True)
    took = time.monotonic() - started
    assert 1.0 <= took < 10, f"podman stop -t 1 took {took:.2f} s"
    state = podman.inspect(cid)["State"]
    assert state["Status"] == "exited" and state["ExitCode"] == 137, state
    # runc's positional signal: `kill ID 15`, then `kill ID 9` after the timeout.
    kills = [c[-2:] for c in podman.calls() if clients.verb(c) == "kill" and cid in c]
    assert kills == [[cid, "15"], [cid, "9"]], podman.report(cid)
    podman("rm", cid, check=True)
    verbs = clients.verbs(podman.calls(), cid)
    assert verbs[:2] == ["create", "start"] and verbs[-1] == "delete", podman.report(cid)
    assert cid not in podman("ps", "-a", "-q", "--no-trunc", check=True).stdout.split()
    assert podman.leftovers(cid) == [], podman.report(cid)


def test_exec(podman: clients.Podman, sleeper: str) -> None:
    result = podman("exec", sleeper, "echo", "hi")
    assert result.returncode == 0, clients.describe_result(result) + "\n" + podman.report(sleeper)
    assert result.stdout == "hi\n"
    assert "exec" in clients.verbs(podman.calls(), sleeper)


def test_run_interactive_tty(podman: clients.Podman) -> None:
    before = len(podman.calls())
    session = clients.PtySession(
        podman.argv("run", "-it", "--rm", *podman.run_flags, IMAGE, "sh"), env=podman.env
    )
    try:
        session.expect(b"# ", timeout=30)
        session.send(b"echo bst-$((1+2))\r")
        session.expect(b"bst-3")
        session.send(b"exit\r")
        code = session.wait(timeout=30)
    finally:
        session.close()
    calls = podman.calls()[before:]
    assert code == 0, session.output.decode(errors="replace") + "\n" + clients.format_calls(calls)
    create = next(c for c in calls if clients.verb(c) == "create")
    assert "--console-socket" in create
    assert podman.leftovers(create[-1]) == [], clients.format_calls(calls)


def test_exec_many_times(podman: clients.Podman, sleeper: str) -> None:
    # Once raced (a few % of calls): the tenant spoke on the shared channel before the
    # intermediate had reported its pid (fixed in 1afe812).
    for i in range(25):
        result = podman("exec", "-i", sleeper, "cat", stdin=f"bst-{i}\n")
        assert result.returncode == 0, f"call {i}: " + clients.describe_result(result)
        assert result.stdout == f"bst-{i}\n"


@pytest.mark.parametrize(
    ("command", "code"),
    [("/nonexistent", 127), ("/etc/passwd", 126)],
)
def test_run_of_a_command_that_cannot_run(podman: clients.Podman, command: str, code: int) -> None:
    """Docker's and Podman's convention: 127 when not found, 126 when it cannot be executed."""
    result = podman("run", "--rm", *podman.run_flags, IMAGE, command)
    assert result.returncode == code, clients.describe_result(result) + "\n" + podman.report()


@pytest.mark.parametrize(
    ("command", "code"),
    [("/nonexistent", 127), ("/etc/passwd", 126)],
)
def test_exec_of_a_command_that_cannot_run(
    podman: clients.Podman, sleeper: str, command: str, code: int
) -> None:
    result = podman("exec", sleeper, command)
    assert result.returncode == code, clients.describe_result(result) + "\n" + podman.report()


def test_pause_unpause(podman: clients.Podman, sleeper: str) -> None:
    cgroup = podman.container_cgroup(sleeper)
    podman("pause", sleeper, check=True)
    assert podman.inspect(sleeper)["State"]["Status"] == "paused"
    assert clients.freezer_state(cgroup) == "FROZEN"
    podman("unpause", sleeper, check=True)
    assert podman.inspect(sleeper)["State"]["Status"] == "running"
    assert clients.freezer_state(cgroup) == "THAWED"
    verbs = clients.verbs(podman.calls(), sleeper)
    assert "pause" in verbs and "resume" in verbs, podman.report(sleeper)


def test_read_only_root(podman: clients.Podman) -> None:
    # --read-only: a read-only root, with tmpfs on /run, /tmp and /var/tmp ("tmpcopyup").
    script = "touch /tmp/ok && ! touch /bst 2>/dev/null && echo bst-ro"
    result = podman("run", "--rm", "--read-only", *podman.run_flags, IMAGE, "sh", "-c", script)
    assert result.returncode == 0, clients.describe_result(result) + "\n" + podman.report()
    assert result.stdout == "bst-ro\n"


def test_default_seccomp_profile(podman: clients.Podman) -> None:
    # Podman always sends its default profile (containers-common's seccomp.json); runc applies it.
    result = podman(
        "run", "--rm", *podman.run_flags, IMAGE, "grep", "Seccomp:", "/proc/self/status"
    )
    assert result.returncode == 0, clients.describe_result(result)
    assert result.stdout.split() == ["Seccomp:", "2"]
