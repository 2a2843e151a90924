"""A foreground `run` or `exec` passes the signals it receives on to the container's process
(bastion/cli/runc/forwarding.py), as runc does: a supervisor that signals the runtime reaches the
program in the container."""

from __future__ import annotations

import signal
import subprocess
from typing import TYPE_CHECKING

import pytest

from bastion_testing.runc import wait_no_leftovers

if TYPE_CHECKING:
    from bastion_testing.plugin import BundleFactory
    from bastion_testing.runc import Runc

pytestmark = pytest.mark.privileged

# Says when its trap is set, then waits; SIGUSR1 makes it print and exit 3.
SCRIPT = 'trap "echo got-usr1; exit 3" USR1; echo ready; while :; do sleep 0.05; done'


def _signalled(argv: list[str]) -> tuple[int, list[str]]:
    """Start a foreground runtime command, SIGUSR1 it once the container's trap is set."""
    with subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        try:
            assert proc.stdout.readline().strip() == "ready"
            proc.send_signal(signal.SIGUSR1)
            out, _ = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    return proc.returncode, out.split()


def test_a_foreground_run_forwards_signals(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    bundle = bundle_factory(args=["sh", "-c", SCRIPT])
    try:
        code, out = _signalled(runc.argv("run", "--bundle", bundle, container_id))
    finally:
        runc("delete", "--force", container_id)
    assert (code, out) == (3, ["got-usr1"])
    assert wait_no_leftovers(runc.root, container_id, bundle) == []


def test_a_foreground_exec_forwards_signals(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    bundle = bundle_factory(args=["sleep", "600"])
    try:
        runc("run", "--detach", "--bundle", bundle, container_id, check=True)
        code, out = _signalled(runc.argv("exec", container_id, "sh", "-c", SCRIPT))
    finally:
        runc("delete", "--force", container_id)
    assert (code, out) == (3, ["got-usr1"])
    assert wait_no_leftovers(runc.root, container_id, bundle) == []


# Child shells send themselves SIGXFSZ and SIGPIPE (not the container's first process: pid 1 of a
# pid namespace is spared the signals it has no handler for); at the default action each dies of
# it, exit status 128+25 or 128+13. An inherited SIG_IGN would let it print "survived" and exit 0.
# Python's start-up ignores both, so a runtime in Python must give them back (runc's do not).
PIPE_XFSZ = (
    'sh -c "kill -XFSZ \\$\\$; echo survived"; echo "xfsz=$?"; '
    'sh -c "kill -PIPE \\$\\$; echo survived"; echo "pipe=$?"'
)


def test_the_container_gets_sigpipe_and_sigxfsz_at_their_default(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    sleeper = f"{container_id}-sleeper"
    try:
        done = runc("run", "--bundle", bundle_factory(args=["sh", "-c", PIPE_XFSZ]), container_id)
        runc(
            "run",
            "--detach",
            "--bundle",
            bundle_factory(args=["sleep", "600"]),
            sleeper,
            check=True,
        )
        exec_done = runc("exec", sleeper, "sh", "-c", PIPE_XFSZ)
    finally:
        runc("delete", "--force", container_id)
        runc("delete", "--force", sleeper)
    for result in (done, exec_done):
        assert (result.returncode, result.stdout.split()) == (0, ["xfsz=153", "pipe=141"])
