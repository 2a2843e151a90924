"""`bastion-runc exec`: a new process joins the container and gets its own identity."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from bastion_testing.helper import parse
from bastion_testing.plugin import BundleFactory
from bastion_testing.runc import Runc

pytestmark = pytest.mark.privileged

HELPER = "/usr/bin/bst-helper"


@pytest.fixture
def running(runc: Runc, bundle_factory: BundleFactory, container_id: str) -> str:
    bundle = bundle_factory(args=["sleep", "300"], readonly=False)
    runc("run", "--detach", "--bundle", bundle, container_id, check=True)
    runc.wait_status(container_id, "running")
    return container_id


def _ns(pid: int | str, kind: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def test_exec_joins_namespaces_cgroup_and_sees_the_container(runc: Runc, running: str) -> None:
    init = runc.state(running)["pid"]
    out = runc(
        "exec",
        running,
        "sh",
        "-c",
        "hostname; echo pid=$$; cat /proc/self/cgroup; cat /proc/1/cmdline | tr '\\0' ' '; echo;"
        " ls /",
        check=True,
    ).stdout.splitlines()
    config = json.loads(Path(runc.state(running)["bundle"], "config.json").read_text())
    assert out[0] == config["hostname"]  # the container's UTS namespace
    assert out[1] not in ("pid=1", f"pid={init}")  # a new process, numbered in the container
    cgroups = [line for line in out if line[:2].rstrip(":").isdigit() and line.count(":") >= 2]
    assert len(cgroups) >= 8
    assert all(line.endswith(":/") for line in cgroups), cgroups  # its cgroup namespace root
    assert "sleep 300 " in out  # /proc/1 is the container's init (argv joined by spaces)
    assert "work" not in out  # the container's root, not the host's


def test_exec_same_namespaces_as_init(runc: Runc, running: str, tmp_path: Path) -> None:
    init = runc.state(running)["pid"]
    pid_file = tmp_path / "pid"
    runc("exec", "--detach", "--pid-file", str(pid_file), running, "sleep", "30", check=True)
    pid = int(pid_file.read_text())
    try:
        for kind in ("mnt", "pid", "net", "uts", "ipc", "cgroup"):
            assert _ns(pid, kind) == _ns(init, kind), kind
        assert Path(f"/proc/{pid}/cgroup").read_text() == Path(f"/proc/{init}/cgroup").read_text()
    finally:
        os.kill(pid, 9)


def test_exec_user_caps_env_cwd(runc: Runc, running: str) -> None:
    out = runc(
        "exec",
        "-u",
        "1000:1000",
        "-g",
        "10",
        "-e",
        "FOO=bar baz",
        "--cwd",
        "/tmp",
        "--no-new-privs",
        running,
        "sh",
        "-c",
        f"{HELPER} ids; {HELPER} caps; echo FOO=$FOO; pwd",
        check=True,
    ).stdout
    got = parse(out)
    assert (got["uid"], got["gid"], got["groups"]) == ("1000", "1000", "10")
    assert got["NoNewPrivs"] == "1"
    assert "FOO=bar baz" in out
    assert out.splitlines()[-1] == "/tmp"


def test_exec_cap_flag_adds_a_capability(runc: Runc, running: str) -> None:
    got = parse(runc("exec", "--cap", "CAP_SYS_ADMIN", running, HELPER, "caps", check=True).stdout)
    assert int(got["CapEff"], 16) & (1 << 21)  # CAP_SYS_ADMIN
    got = parse(runc("exec", running, HELPER, "caps", check=True).stdout)
    assert not int(got["CapEff"], 16) & (1 << 21)


def test_exec_process_file(runc: Runc, running: str, tmp_path: Path) -> None:
    process: dict[str, Any] = {
        "args": ["sh", "-c", "echo $GREETING; id -u"],
        "env": ["PATH=/bin:/usr/bin", "GREETING=hello"],
        "cwd": "/",
        "user": {"uid": 65534, "gid": 65534},
    }
    path = tmp_path / "process.json"
    path.write_text(json.dumps(process))
    assert runc("exec", "-p", str(path), running, check=True).stdout.split() == ["hello", "65534"]


def test_exec_exit_status_and_errors(runc: Runc, running: str) -> None:
    assert runc("exec", running, "sh", "-c", "exit 7").returncode == 7
    missing = runc("exec", running, "no-such-binary")
    assert missing.returncode != 0
    assert "executable-not-found" in missing.stderr
    bad_cap = runc("exec", "--cap", "CAP_NOPE", running, "true")
    assert bad_cap.returncode != 0
    assert "process.capabilities" in bad_cap.stderr


def test_exec_into_stopped_container_fails(runc: Runc, running: str) -> None:
    runc("kill", running, "KILL", check=True)
    runc.wait_status(running, "stopped")
    result = runc("exec", running, "true")
    assert result.returncode != 0
    assert "invalid-state" in result.stderr
    runc("delete", running, check=True)
