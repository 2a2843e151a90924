"""Seccomp in real containers: the configured errno, Docker's default profile, and NOTIFY."""

from __future__ import annotations

import os
import select
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from bastion import jsonio
from bastion._sys import seccomp as scmp
from bastion.oci.defaults import default_spec
from bastion.runtime.seccomp_profile import default_profile
from bastion_testing.plugin import BundleFactory
from bastion_testing.runc import Runc, error_line, wait_no_leftovers

pytestmark = pytest.mark.privileged

ENOMSG = 42


def _run(runc: Runc, bundle: str, container_id: str) -> str:
    result = runc("run", "-b", bundle, container_id)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("nnp", [False, True])
def test_denied_syscall_gets_the_configured_errno(
    runc: Runc, bundle_factory: BundleFactory, container_id: str, nnp: bool
) -> None:
    seccomp = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOMSG}
        ],
    }
    edits: dict[str, Any] = {"linux.seccomp": seccomp, "process.noNewPrivileges": nnp}
    bundle = bundle_factory(
        args=["sh", "-c", "mkdir /tmp/x 2>&1; echo rc=$?; echo ok > /tmp/y && cat /tmp/y"],
        readonly=False,
        **edits,
    )
    out = _run(runc, bundle, container_id)
    assert "No message of desired type" in out  # strerror(ENOMSG): our errno, not EPERM
    assert "rc=1" in out
    assert out.splitlines()[-1] == "ok"  # everything else is allowed


def test_docker_default_profile_blocks_what_docker_blocks(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    caps = default_spec()["process"]["capabilities"]  # type: ignore[index]
    profile = default_profile(caps["bounding"])
    # A user namespace needs no capability, so only the filter can refuse it; `ls` and a shell
    # must keep working under it. (keyctl and mount are refused too: test_runtime_seccomp.py
    # checks them at the process level, busybox has no keyctl and mount needs CAP_SYS_ADMIN.)
    script = "unshare -U true 2>/dev/null; echo unshare=$?; ls / >/dev/null; echo ls=$?"
    control = bundle_factory(args=["sh", "-c", script])
    assert _run(runc, control, container_id).split() == ["unshare=0", "ls=0"]
    edits: dict[str, Any] = {"linux.seccomp": profile}
    bundle = bundle_factory(args=["sh", "-c", script], **edits)
    assert _run(runc, bundle, container_id).split() == ["unshare=1", "ls=0"]


def test_unknown_action_and_bad_syscall_name_are_config_errors(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    bad_action: dict[str, Any] = {"linux.seccomp": {"defaultAction": "SCMP_ACT_NOPE"}}
    bundle = bundle_factory(args=["true"], **bad_action)
    result = runc("create", "-b", bundle, container_id)
    assert result.returncode == 5
    assert "linux.seccomp.defaultAction" in error_line(result.stderr)
    assert wait_no_leftovers(runc.root, container_id, bundle) == []
    bad_name: dict[str, Any] = {
        "linux.seccomp": {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "not a syscall!"], "action": "SCMP_ACT_ERRNO"}],
        }
    }
    bundle = bundle_factory(args=["true"], **bad_name)
    result = runc("create", "-b", bundle, container_id)
    assert result.returncode == 5
    assert "linux.seccomp.syscalls[0].names[1]" in error_line(result.stderr)
    assert wait_no_leftovers(runc.root, container_id, bundle) == []


def test_notify_agent_receives_and_answers(
    runc: Runc, bundle_factory: BundleFactory, container_id: str, runtime_root: str
) -> None:
    listener = os.path.join(runtime_root, "agent.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(listener)
    server.listen(1)
    server.settimeout(60)
    seen: dict[str, Any] = {}

    def agent() -> None:
        conn, _ = server.accept()
        with conn:
            msg, fds, _flags, _addr = socket.recv_fds(conn, 65536, 1)
        seen["state"] = jsonio.loads(msg)
        (fd,) = fds
        try:
            ready = select.select([fd], [], [], 30)[0]
            if ready:
                notif = scmp.notify_receive(fd)
                seen["nr"] = notif.nr
                scmp.notify_respond(fd, notif.id, error=ENOMSG)
        finally:
            os.close(fd)

    thread = threading.Thread(target=agent, daemon=True)
    thread.start()
    seccomp = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": listener,
        "listenerMetadata": "bst-meta",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}],
    }
    edits: dict[str, Any] = {"linux.seccomp": seccomp}
    bundle = bundle_factory(
        args=["sh", "-c", "mkdir /tmp/n 2>&1; echo rc=$?"], readonly=False, **edits
    )
    try:
        out = _run(runc, bundle, container_id)
    finally:
        thread.join(timeout=30)
        server.close()
    assert seen["state"]["fds"] == ["seccompFd"]
    assert seen["state"]["metadata"] == "bst-meta"
    assert seen["state"]["state"]["id"] == container_id
    assert seen["nr"] in {scmp.syscall_resolve_name("mkdir"), scmp.syscall_resolve_name("mkdirat")}
    assert "No message of desired type" in out
    assert "rc=1" in out
    assert not Path(bundle, "rootfs", "tmp", "n").exists()


def test_a_rule_of_unknown_syscalls_is_refused_but_newer_names_are_skipped(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    typo: dict[str, Any] = {
        "linux.seccomp": {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdri"], "action": "SCMP_ACT_ERRNO"}],
        }
    }
    bundle = bundle_factory(args=["true"], **typo)
    result = runc("create", "-b", bundle, container_id)
    assert result.returncode == 5
    line = error_line(result.stderr)
    assert "error[seccomp-unknown-syscall]" in line
    assert "linux.seccomp.syscalls[0].names[0]" in line
    assert wait_no_leftovers(runc.root, container_id, bundle) == []
    # One known name with one this libseccomp lacks: runc's behaviour, the rule applies.
    mixed: dict[str, Any] = {
        "linux.seccomp": {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {
                    "names": ["mkdir", "mkdirat", "bst_future_syscall"],
                    "action": "SCMP_ACT_ERRNO",
                    "errnoRet": ENOMSG,
                }
            ],
        }
    }
    bundle = bundle_factory(
        args=["sh", "-c", "mkdir /tmp/q 2>&1; echo rc=$?"], readonly=False, **mixed
    )
    out = _run(runc, bundle, container_id)
    assert "No message of desired type" in out


def test_exec_applies_the_filter_through_the_program_cache(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    from bastion.runtime.seccomp import CACHE_DIR

    seccomp = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOMSG}
        ],
    }
    bundle = bundle_factory(args=["sleep", "600"], readonly=False, linux__seccomp=seccomp)
    cache = Path(runc.root) / CACHE_DIR
    try:
        runc("create", "--bundle", bundle, container_id, check=True)
        runc("start", container_id, check=True)
        entries = sorted(cache.iterdir())
        assert len(entries) == 1  # create stored the generated program
        entries[0].unlink()
        out = runc("exec", container_id, "sh", "-c", "mkdir /tmp/x 2>&1; echo rc=$?").stdout
        assert "No message of desired type" in out and "rc=1" in out  # the filter, in exec
        assert [e.name for e in cache.iterdir()] == [entries[0].name]  # exec stored it again
        out = runc("exec", container_id, "sh", "-c", "mkdir /tmp/y 2>&1; echo rc=$?").stdout
        assert "No message of desired type" in out  # and the cached program filters alike
    finally:
        runc("delete", "--force", container_id, check=True)
    assert wait_no_leftovers(runc.root, container_id, bundle) == []
