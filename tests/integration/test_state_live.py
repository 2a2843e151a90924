"""The state tables on the real machine: /proc seeding, lazy lookups, a real bastion-runc
container found by its cgroup id, and the per-event cost of apply()."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bastion.sensor.events.model import Event
from bastion.sensor.events.schema import BY_NAME
from bastion.sensor.state import SensorState
from bastion.sensor.state.model import FdType
from bastion_testing.plugin import BundleFactory
from bastion_testing.runc import Runc

pytestmark = pytest.mark.privileged


def event(kind: str, tid: int, res: int | None, cgroup_id: int = 0, **params: object) -> Event:
    spec = BY_NAME[kind]
    return Event(
        num=1,
        ts=time.time_ns(),
        cpu=0,
        tid=tid,
        pid=0,
        type=kind,
        dir="<",
        category=spec.category,
        params=params,
        specs=spec.specs,
        res=res,
        cgroup_id=cgroup_id,
    )


def test_seed_from_proc_sees_this_process(tmp_path: Path) -> None:
    path = tmp_path / "bst-test-open.txt"
    with (
        open(path, "w") as opened,
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server,
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client,
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix,
    ):
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        client.connect(server.getsockname())
        accepted, _ = server.accept()
        unix.bind(str(tmp_path / "bst-test.sock"))
        with accepted:
            state = SensorState()
            started = time.perf_counter()
            added = state.seed_from_proc()
            took = time.perf_counter() - started
            print(f"\nseed_from_proc: {added} threads in {took * 1000:.1f} ms")
            me = state.process(os.getpid())
            assert me is not None and added >= 1
            assert (me.exe, me.args) == (sys.orig_argv[0], tuple(sys.orig_argv[1:]))
            assert me.exepath == os.path.realpath(f"/proc/{os.getpid()}/exe")
            assert me.cwd == os.getcwd() and me.uid == os.getuid()
            assert me.env and f"PATH={os.environ['PATH']}" in me.env
            assert me.comm == Path(f"/proc/{os.getpid()}/comm").read_text().strip()
            fds = me.fds
            assert fds[opened.fileno()].name == str(path) and fds[opened.fileno()].type == "file"
            host, port = server.getsockname()
            assert fds[server.fileno()].name == f"{host}:{port}" and fds[server.fileno()].is_server
            cport = client.getsockname()[1]
            assert fds[client.fileno()].name == f"127.0.0.1:{cport}->127.0.0.1:{port}"
            assert fds[client.fileno()].l4proto == "tcp" and not fds[client.fileno()].is_server
            assert fds[accepted.fileno()].name == f"127.0.0.1:{cport}->127.0.0.1:{port}"
            assert fds[accepted.fileno()].is_server
            assert fds[unix.fileno()].type == FdType.UNIX
            assert fds[unix.fileno()].name == str(tmp_path / "bst-test.sock")
            parent = state.parent(me)
            assert parent is not None and parent.pid == os.getppid()
            assert state.container_of(me).kind == "host"
            assert took < 10


def _wait_for_exec(pid: int, program: str) -> None:
    # Popen returns when the exec passes its point of no return (the close-on-exec error pipe
    # closes), which is before the kernel has set up the new argv: /proc/<pid>/cmdline can
    # still read empty then, and the state would record a thread with no exe or args.
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0] != program.encode():
        assert time.monotonic() < deadline, f"pid {pid} never exec'd {program}"
        time.sleep(0.001)


def test_unknown_tid_is_read_from_proc(tmp_path: Path) -> None:
    state = SensorState()
    state.seed_from_proc()
    child = subprocess.Popen(["sleep", "30"], cwd=tmp_path)
    try:
        _wait_for_exec(child.pid, "sleep")
        e = event("read", child.pid, 0, fd=0)
        state.apply(e)
        assert e.thread is not None and e.pid == child.pid
        assert (e.thread.exe, e.thread.args, e.thread.cwd) == ("sleep", ("30",), str(tmp_path))
        parent = state.parent(e.thread)
        assert parent is not None and parent.pid == os.getpid()
        assert state.stats()["proc_lookups"] == 1
    finally:
        child.kill()
        child.wait()


def test_bastion_container_by_cgroup_id(
    runc: Runc, bundle_factory: BundleFactory, container_id: str, runtime_root: str
) -> None:
    name = f"{container_id}-web"
    bundle = bundle_factory(
        args=["sleep", "60"],
        annotations={"bastion.name": name, "bastion.label.tier": "web"},
    )
    passwd = Path(bundle, "rootfs/etc/passwd")
    host_users = Path("/etc/passwd").read_text()
    uid = next(u for u in range(4242, 5000) if f":x:{u}:" not in host_users)
    passwd.write_text(passwd.read_text() + f"bst-test-user:x:{uid}:{uid}::/:/bin/sh\n")
    # The state exists before the container: the container is found by a rescan on a miss.
    state = SensorState(runtime_roots=(runtime_root,))
    state.seed_from_proc()
    runc("run", "--detach", "--bundle", bundle, container_id, check=True)
    try:
        pid = runc.wait_status(container_id, "running")["pid"]
        identity = Path(runtime_root, container_id, "identity.json")
        assert identity.exists()
        cgroup_id = json.loads(identity.read_text())["cgroupIds"][0]
        e = event("read", pid, 0, cgroup_id=cgroup_id, fd=0)
        state.apply(e)
        assert e.thread is not None
        container = state.container_of(e.thread)
        assert (container.id, container.name, container.kind) == (container_id, name, "bastion")
        assert container.labels == {"tier": "web"}
        assert state.containers.by_cgroup_id(cgroup_id) is container
        found = state.users.user(uid, container)
        assert found is not None and found.name == "bst-test-user"
        assert state.users.user(uid) is None  # not a host user
        root = state.users.user(0, container)
        assert root is not None and root.name == "root"
        # A second state seeded after the container started places it from /proc alone.
        again = SensorState(runtime_roots=(runtime_root,))
        again.seed_from_proc()
        seeded = again.process(pid)
        assert seeded is not None and again.container_of(seeded).id == container_id
        assert seeded.cgroup_id == cgroup_id and seeded.exe == "sleep"
    finally:
        runc("delete", "--force", container_id, check=False)


def test_apply_cost_per_event(tmp_path: Path) -> None:
    state = SensorState()
    state.seed_from_proc()
    me = os.getpid()
    batch = []
    for i in range(20_000):
        fd = 100 + i % 50
        batch.append(event("openat", me, fd, dirfd=-100, name=f"f{i % 50}", flags=1, mode=0))
        batch.append(event("read", me, 10, fd=fd, size=10))
        batch.append(event("close", me, 0, fd=fd))
    started = time.perf_counter()
    for e in batch:
        state.apply(e)
    per_event = (time.perf_counter() - started) / len(batch) * 1e6
    print(f"\napply(): {per_event:.2f} us/event over {len(batch)} events")
    assert batch[-1].fd is not None and batch[-1].fd.name.startswith(os.getcwd())
    assert per_event < 50


def test_an_orphan_gets_its_reaper_as_parent() -> None:
    """A process whose parent exited has the reaper /proc names as its parent, not <NA>."""
    shell = subprocess.Popen(
        ["sh", "-c", "sleep 30 & echo $!; read _"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert shell.stdout is not None and shell.stdin is not None
    orphan = int(shell.stdout.readline())
    try:
        state = SensorState(runtime_roots=())
        state.seed_from_proc()
        child = state.process(orphan)
        assert child is not None and child.ptid == shell.pid
        shell.stdin.write("\n")
        shell.stdin.close()
        shell.wait(timeout=10)
        state.remove_thread(shell.pid)  # what procexit does
        with open(f"/proc/{orphan}/stat", "rb") as f:
            reaper = int(f.read().rsplit(b")", 1)[1].split()[1])
        assert reaper != shell.pid
        parent = state.parent(child)
        assert parent is not None and parent.pid == reaper
    finally:
        try:
            os.kill(orphan, 9)  # our own sleep, by pid
        except ProcessLookupError:
            pass
        if shell.poll() is None:
            shell.kill()
            shell.wait()
        shell.stdout.close()
        if not shell.stdin.closed:
            shell.stdin.close()
