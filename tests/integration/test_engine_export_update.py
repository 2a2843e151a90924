"""`export` and `update`, from the bastion CLI and from real Docker clients (the docker 20.10
CLI, docker-py) through `bastion system service`: the exported tar holds the container's own
filesystem (not its volumes or tmpfs) and `bastion import` runs it again; an update changes a
running container's cgroup (v1 files read here), the stored config (inspect, the next start)
and, for a stopped one, only the config; a refused update changes nothing."""

from __future__ import annotations

import io
import json
import os
import socket
import struct
import subprocess
import tarfile
import time
from typing import TYPE_CHECKING, Any

import pytest

from bastion_testing.api_service import Service, serving
from bastion_testing.engine import Bastion, engine_rig, mounts_under

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.privileged

MB = 1024 * 1024


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    with engine_rig(busybox_rootfs, prefix="bst-test-apiexup-") as b:
        yield b


@pytest.fixture(scope="module")
def service(bastion: Bastion) -> Iterator[Service]:
    with serving(bastion) as s:
        yield s


def _members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar.getmembers()}


def _until_ready(bastion: Bastion, name: str, path: str) -> None:
    deadline = time.monotonic() + 60
    while bastion("exec", name, "test", "-e", path).returncode != 0:
        assert time.monotonic() < deadline, f"{path} never appeared in {name}"
        time.sleep(0.1)


# --- export ----------------------------------------------------------------------------------


def test_export_of_a_stopped_container_imports_back_and_runs(
    bastion: Bastion, tmp_path: Path
) -> None:
    script = (
        "echo hi > /hello && ln /hello /hello-link && echo v > /data/secret && "
        "echo t > /scratch/t && rm /bin/vi"
    )
    ran = bastion(
        *("run", "--name", "bst-ex-a", "-v", "bst-ex-vol:/data", "--tmpfs", "/scratch"),
        *(bastion.image, "sh", "-c", script),
    )
    assert ran.returncode == 0, ran.stderr
    try:
        # a file capability (cap_net_raw, effective: VFS_CAP_REVISION_2), set in its upper dir
        capability = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)
        cid = str(bastion.inspect("bst-ex-a")["Id"])
        upper = os.path.join(bastion.root, "containers", cid, "fs", "upper", "hello")
        os.setxattr(upper, "security.capability", capability)
        out = tmp_path / "a.tar"
        bastion.ok("export", "-o", str(out), "bst-ex-a")
        members = _members(out.read_bytes())
        carried = members["hello"].pax_headers["SCHILY.xattr.security.capability"]
        assert carried.encode("utf-8", "surrogateescape") == capability
        assert members["hello"].isreg() and members["bin/busybox"].isreg()
        assert members["hello-link"].islnk() and members["hello-link"].linkname == "hello"
        assert members["bin/sh"].issym()
        # the volume's and the tmpfs's mount points, empty; the deleted file is gone
        assert members["data"].isdir() and "data/secret" not in members
        assert members["scratch"].isdir() and "scratch/t" not in members
        assert "bin/vi" not in members and not any(n.startswith("./") for n in members)
        assert {m.uname for m in members.values()} == {""}
        # the same to standard output
        piped = subprocess.run(
            bastion.argv("export", "bst-ex-a"), capture_output=True, check=False, timeout=60
        )
        assert piped.returncode == 0, piped.stderr
        assert set(_members(piped.stdout)) == set(members)
        # nothing stays mounted for it
        assert not [m for m in mounts_under(bastion.root) if "/containers/" in m]
        bastion.ok("import", str(out), "bst-ex-img:1")
        again = bastion("run", "--rm", "bst-ex-img:1", "cat", "/hello", "/hello-link")
        assert (again.returncode, again.stdout) == (0, "hi\nhi\n"), again.stderr
        missing = bastion("export", "-o", str(tmp_path / "no" / "b.tar"), "bst-ex-a")
        assert missing.returncode != 0 and not (tmp_path / "no").exists()
        unknown = bastion("export", "-o", str(tmp_path / "c.tar"), "bst-ex-nothing")
        assert unknown.returncode == 125, unknown.stderr
        assert sorted(os.listdir(tmp_path)) == ["a.tar"]
    finally:
        bastion("rm", "-f", "bst-ex-a")
        bastion("rmi", "bst-ex-img:1")
        bastion("volume", "rm", "bst-ex-vol")


def test_docker_export_and_docker_py_of_a_running_container(
    service: Service, bastion: Bastion, tmp_path: Path
) -> None:
    bastion.ok(
        *("run", "-d", "--name", "bst-ex-r", "-v", "bst-ex-rvol:/data"),
        *(bastion.image, "sh", "-c", "echo s > /data/s; echo live > /live; exec sleep 120"),
    )
    try:
        _until_ready(bastion, "bst-ex-r", "/live")
        out = tmp_path / "r.tar"
        exported = service.docker("export", "-o", str(out), "bst-ex-r")
        assert exported.returncode == 0, exported.stderr
        members = _members(out.read_bytes())
        assert members["live"].size == 5 and "data/s" not in members
        assert "proc/1" not in members  # /proc is the container's mount: not in its overlay
        client = service.client()
        try:
            data = b"".join(client.containers.get("bst-ex-r").export())
        finally:
            client.close()
        assert set(_members(data)) == set(members)
        assert bastion.inspect("bst-ex-r")["State"]["Running"] is True  # type: ignore[index]
        gone = service.docker("export", "-o", str(tmp_path / "x.tar"), "bst-ex-nothing")
        assert gone.returncode == 1 and "No such container" in gone.stderr
    finally:
        bastion("rm", "-f", "bst-ex-r")
        bastion("volume", "rm", "bst-ex-rvol")


def test_a_client_that_leaves_mid_export_leaves_nothing_behind(
    service: Service, bastion: Bastion
) -> None:
    # 64 MiB to export: far more than the socket buffers, so the client leaves mid-stream
    big = "dd if=/dev/zero of=/big bs=1M count=64 2>/dev/null"
    ran = bastion("run", "--name", "bst-ex-cut", bastion.image, "sh", "-c", big)
    assert ran.returncode == 0, ran.stderr
    cid = str(bastion.inspect("bst-ex-cut")["Id"])
    try:
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(service.socket)
            client.sendall(b"GET /v1.41/containers/bst-ex-cut/export HTTP/1.1\r\nHost: d\r\n\r\n")
            assert client.recv(4096).startswith(b"HTTP/1.1 200")
        # the engine's write fails, it unmounts the overlay and lets go of the start lock
        deadline = time.monotonic() + 60
        while [m for m in mounts_under(bastion.root) if cid in m]:
            assert time.monotonic() < deadline, "the export's overlay stayed mounted"
            time.sleep(0.1)
        again = bastion("start", "-a", "bst-ex-cut", timeout=60)
        assert again.returncode == 0, again.stderr
    finally:
        bastion("rm", "-f", "bst-ex-cut")


# --- update ----------------------------------------------------------------------------------


def _cgroup(bastion: Bastion, name: str, controller: str, file: str) -> str:
    cid = bastion.inspect(name)["Id"]
    with open(f"/sys/fs/cgroup/{controller}{bastion.cgroup_parent}/{cid}/{file}") as f:
        return f.read().strip()


def _host(bastion: Bastion, name: str) -> dict[str, Any]:
    host: dict[str, Any] = json.loads(bastion.ok("inspect", name))[0]["HostConfig"]
    return host


def test_update_of_a_running_container_changes_its_cgroup_and_survives_a_restart(
    bastion: Bastion,
) -> None:
    bastion.ok("run", "-d", "--name", "bst-up-r", "-m", "64m", bastion.image, "sleep", "120")
    try:
        bastion.ok(
            *("update", "--memory", "96m", "--memory-swap", "192m", "--cpus", "0.5"),
            *("--cpu-shares", "512", "--cpuset-cpus", "0", "--pids-limit", "50", "bst-up-r"),
        )

        def limits() -> list[str]:
            return [
                _cgroup(bastion, "bst-up-r", "memory", "memory.limit_in_bytes"),
                _cgroup(bastion, "bst-up-r", "memory", "memory.memsw.limit_in_bytes"),
                _cgroup(bastion, "bst-up-r", "cpu", "cpu.cfs_quota_us"),
                _cgroup(bastion, "bst-up-r", "cpu", "cpu.cfs_period_us"),
                _cgroup(bastion, "bst-up-r", "cpu", "cpu.shares"),
                _cgroup(bastion, "bst-up-r", "cpuset", "cpuset.cpus"),
                _cgroup(bastion, "bst-up-r", "pids", "pids.max"),
            ]

        wanted = [str(96 * MB), str(192 * MB), "50000", "100000", "512", "0", "50"]
        assert limits() == wanted
        host = _host(bastion, "bst-up-r")
        assert (host["Memory"], host["MemorySwap"], host["NanoCpus"]) == (
            96 * MB,
            192 * MB,
            5 * 10**8,
        )
        assert (host["CpuShares"], host["CpusetCpus"], host["PidsLimit"]) == (512, "0", 50)
        bastion.ok("restart", "-t", "0", "bst-up-r")  # a new cgroup, made from the stored config
        assert limits() == wanted
        # lifting limits: --cpus 0 and --pids-limit -1
        bastion.ok("update", "--cpus", "0", "--pids-limit", "-1", "bst-up-r")
        assert _cgroup(bastion, "bst-up-r", "cpu", "cpu.cfs_quota_us") == "-1"
        assert _cgroup(bastion, "bst-up-r", "pids", "pids.max") == "max"
        assert _host(bastion, "bst-up-r")["PidsLimit"] is None
    finally:
        bastion("rm", "-f", "bst-up-r")


def test_update_of_a_stopped_container_changes_its_config_only(bastion: Bastion) -> None:
    bastion.ok("create", "--name", "bst-up-s", bastion.image, "sleep", "120")
    try:
        bastion.ok("update", "--memory", "80m", "--restart", "on-failure:2", "bst-up-s")
        host = _host(bastion, "bst-up-s")
        assert host["Memory"] == 80 * MB
        assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
        bastion.ok("start", "bst-up-s")
        assert _cgroup(bastion, "bst-up-s", "memory", "memory.limit_in_bytes") == str(80 * MB)
    finally:
        bastion("rm", "-f", "bst-up-s")


def test_a_refused_update_changes_nothing(bastion: Bastion) -> None:
    bastion.ok("run", "-d", "--rm", "--name", "bst-up-x", "-m", "64m", bastion.image, "sleep", "60")
    try:
        before = _host(bastion, "bst-up-x")
        for args, reference in (
            (("--memory", "1m"), "Minimum memory limit"),
            (("--cpus", "0.5", "--cpu-quota", "1000"), "Conflicting options"),
            (("--memory", "200m"), "already set memoryswap"),
            (("--memory-swap", "32m"), "larger than memory limit"),
            (("--restart", "always"), "AutoRemove"),
            (("--restart", "sometimes"), "invalid restart policy"),
            (("--cpuset-cpus", "0-4096"), "requested CPUs are not available"),
            ((), "one or more flags"),
        ):
            result = bastion("update", *args, "bst-up-x")
            assert result.returncode == 125 and reference in result.stderr, (args, result)
        assert _host(bastion, "bst-up-x") == before
        assert _cgroup(bastion, "bst-up-x", "memory", "memory.limit_in_bytes") == str(64 * MB)
    finally:
        bastion("rm", "-f", "bst-up-x")


def test_docker_update(service: Service, bastion: Bastion) -> None:
    since = time.time()
    bastion.ok("run", "-d", "--name", "bst-up-d", bastion.image, "sleep", "120")
    try:
        result = service.docker(
            *("update", "--memory", "72m", "--memory-swap", "-1", "--pids-limit", "40"),
            *("--cpu-quota", "25000", "--cpu-period", "50000", "--restart", "always"),
            "bst-up-d",
        )
        assert (result.returncode, result.stdout) == (0, "bst-up-d\n"), result.stderr
        assert _cgroup(bastion, "bst-up-d", "memory", "memory.limit_in_bytes") == str(72 * MB)
        assert _cgroup(bastion, "bst-up-d", "pids", "pids.max") == "40"
        assert _cgroup(bastion, "bst-up-d", "cpu", "cpu.cfs_quota_us") == "25000"
        assert _cgroup(bastion, "bst-up-d", "cpu", "cpu.cfs_period_us") == "50000"
        shown = service.docker(
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.CpuQuota}}",
            "bst-up-d",
        )
        assert shown.returncode == 0, shown.stderr
        policy = service.docker("inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", "bst-up-d")
        assert policy.stdout.strip() == "always"
        assert shown.stdout.split() == [str(72 * MB), "40", "25000"]
        bad = service.docker("update", "--cpus", "0.5", "bst-up-d")  # quota is set
        assert bad.returncode == 1 and "Conflicting options" in bad.stderr, bad
        events = service.docker(
            *("events", "--since", f"{since:.3f}", "--until", f"{time.time():.3f}"),
            *("--filter", "event=update", "--format", "{{.Actor.Attributes.name}}"),
        )
        assert events.stdout.split() == ["bst-up-d"], events
        client = service.client()
        try:
            answer = client.containers.get("bst-up-d").update(mem_limit="80m", cpu_shares=256)
        finally:
            client.close()
        assert answer == {"Warnings": []}
        assert _cgroup(bastion, "bst-up-d", "memory", "memory.limit_in_bytes") == str(80 * MB)
        assert _cgroup(bastion, "bst-up-d", "cpu", "cpu.shares") == "256"
    finally:
        bastion("rm", "-f", "bst-up-d")
