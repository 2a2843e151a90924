"""bastion's default rules on event sequences shaped like the live probe's: each rule fires on
its trigger and stays quiet on a benign neighbour.

The events go through the real state tables, fields and engine (only the kernel is left out:
tests/integration/test_default_rules_live.py runs the same behaviours in real containers). A
container process is created the way the probe reports it: a `clone` event describing the
child, then its `execve`, both carrying the container's cgroup id.
"""

from __future__ import annotations

import ipaddress
import itertools

import pytest

from bastion.sensor.assemble import load_rules
from bastion.sensor.events.model import Direction, Event, SockTuple
from bastion.sensor.events.schema import BY_NAME
from bastion.sensor.pipeline import Pipeline
from bastion.sensor.state import SensorState
from bastion.sensor.state.model import Container, Thread

CGROUP = 4242
CID = "c0ffee" * 10 + "abcd"
O_RDONLY, O_WRONLY, O_CREAT, O_TRUNC = 0, 1, 0o100, 0o1000
PPM_O_RDONLY, PPM_O_WRONLY, PPM_O_CREAT, PPM_O_TRUNC = 1, 2, 4, 1 << 6


class Scenario:
    """A state with one bastion container and its init (vpid 1), plus a host shell."""

    def __init__(self) -> None:
        self.state = SensorState(
            runtime_roots=(), proc_root="/nonexistent", host_root="/nonexistent"
        )
        self.state.live = False
        self.state.containers.add(
            Container(id=CID, name="job-1", kind="bastion", image="busybox", cgroup_id=CGROUP)
        )
        self.state.add_thread(Thread(tid=50, pid=50, comm="bash", exe="/bin/bash", uid=0, euid=0))
        init = Thread(tid=100, pid=100, ptid=50, comm="sh", exe="sh", vtid=1, vpid=1, uid=0, euid=0)
        init.cgroup_id = CGROUP
        self.state.add_thread(init)
        self.state._place(init)
        rules = load_rules(None, self.state, rule_matching="all")
        self.pipeline = Pipeline(engine=rules.engine, state=self.state, hostname="test")
        self.num = itertools.count(1)
        self.next_tid = itertools.count(200)

    def event(
        self, name: str, tid: int, params: dict[str, object], *, cgroup: int = CGROUP
    ) -> list[str]:
        spec = BY_NAME[name]
        unknown = set(params) - set(spec.specs)
        assert not unknown, f"{name} has no params {unknown}"
        res = params.get("res", params.get("fd"))
        thread = self.state.threads.get(tid)
        evt = Event(
            num=next(self.num),
            ts=1_700_000_000_000_000_000 + next(self.num),
            cpu=0,
            tid=tid,
            pid=thread.pid if thread else tid,
            type=name,
            dir=Direction.EXIT,
            category=spec.category,
            params=params,
            specs=spec.specs,
            res=res if isinstance(res, int) else None,
            cgroup_id=cgroup,
        )
        return [a.rule for a in self.pipeline.feed([evt])]

    def spawn(
        self,
        parent: int,
        exe: str,
        *args: str,
        uid: int = 0,
        cgroup: int = CGROUP,
        comm: str | None = None,
        path: str | None = None,
    ) -> tuple[int, list[str]]:
        """fork + exec as the probe reports them; returns the child's tid and the alerts.

        `exe` is argv[0]; `comm` and `path` (the executable) default to what it names."""
        tid = next(self.next_tid)
        vpid = tid - 190
        self.event(
            "clone",
            parent,
            {
                "res": tid,
                "tid": tid,
                "pid": tid,
                "ptid": parent,
                "flags": 0,
                "uid": uid,
                "gid": uid,
                "vtid": vpid,
                "vpid": vpid,
            },
            cgroup=cgroup,
        )
        name = exe.rsplit("/", 1)[-1]
        alerts = self.event(
            "execve",
            tid,
            {
                "res": 0,
                "exe": exe,
                "args": args,
                "tid": tid,
                "pid": tid,
                "ptid": parent,
                "cwd": "/",
                "comm": (comm or name)[:15],
                "uid": uid,
                "gid": uid,
                "euid": uid,
                "egid": uid,
                "filename": path or exe,
                "trusted_exepath": path or exe,
            },
            cgroup=cgroup,
        )
        return tid, alerts

    def open(self, tid: int, path: str, ppm_flags: int, fd: int = 3) -> list[str]:
        return self.event(
            "openat",
            tid,
            {"fd": fd, "dirfd": -100, "name": path, "flags": ppm_flags, "mode": 0o644},
        )


@pytest.fixture
def sc() -> Scenario:
    return Scenario()


def test_shell_spawned_in_container(sc: Scenario) -> None:
    rule = "Shell Spawned in Container"
    # a program that is not a shell starts one: a web server's injected command
    server, _ = sc.spawn(100, "/usr/sbin/httpd", "-f")
    _, alerts = sc.spawn(server, "/bin/sh", "-c", "id")
    assert rule in alerts
    _, benign = sc.spawn(server, "/bin/ls", "-l")
    assert rule not in benign
    _, host = sc.spawn(50, "/bin/sh", cgroup=0)
    assert host == []
    # busybox runs its applets through /proc/self/exe: comm "exe", argv[0] "sh"
    _, applet = sc.spawn(server, "sh", "-c", "id", comm="exe", path="/bin/busybox")
    assert rule in applet
    _, other_applet = sc.spawn(server, "cat", "/etc/hosts", comm="exe", path="/bin/busybox")
    assert rule not in other_applet


def test_a_shell_started_by_a_shell_or_a_script_is_its_ordinary_work(sc: Scenario) -> None:
    rule = "Shell Spawned in Container"
    _, by_entrypoint = sc.spawn(100, "/bin/sh", "-c", "id")  # the init (vpid 1) is sh
    assert rule not in by_entrypoint
    applet, by_applet = sc.spawn(100, "sh", "./build.sh", comm="exe", path="/bin/busybox")
    _, nested = sc.spawn(applet, "sh", "-c", "true", comm="exe", path="/bin/busybox")
    assert rule not in by_applet + nested
    # a `#!/bin/sh` script: its process is named after it, its argv[0] is the interpreter
    script, _ = sc.spawn(100, "/bin/sh", "./gen.sh", comm="gen.sh", path="/tmp/gen.sh")
    _, from_script = sc.spawn(script, "/bin/sh", "-c", "true")
    assert rule not in from_script


def test_a_shell_whose_parent_is_unknown_is_flagged(sc: Scenario) -> None:
    """`exec` into a container: the runtime's process, the shell's parent, is not one the
    sensor knows in the container (no name): not a shell of the container's own."""
    rule = "Shell Spawned in Container"
    _, alerts = sc.spawn(7777, "/bin/sh", "-c", "id")  # 7777: no such thread in the table
    assert rule in alerts


def test_a_shell_on_a_terminal_is_flagged_whoever_started_it(sc: Scenario) -> None:
    rule = "Shell Spawned in Container"
    sc.state.threads.get(100).tty = 34816  # type: ignore[union-attr]  # /dev/pts/0
    _, alerts = sc.spawn(100, "/bin/sh")
    assert rule in alerts


def test_write_below_binary_dir(sc: Scenario) -> None:
    tid, _ = sc.spawn(100, "/usr/bin/tee")
    assert "Write Below Binary Directory" in sc.open(
        tid, "/usr/bin/evil", PPM_O_WRONLY | PPM_O_CREAT
    )
    assert sc.open(tid, "/usr/bin/ls", PPM_O_RDONLY, fd=4) == []
    assert sc.open(tid, "/tmp/x", PPM_O_WRONLY | PPM_O_CREAT, fd=5) == []


def test_package_manager(sc: Scenario) -> None:
    assert "Package Manager in Container" in sc.spawn(100, "/usr/bin/apt-get", "install", "nmap")[1]
    assert sc.spawn(100, "/usr/bin/apt-cache-x")[1] == []


def test_a_package_query_or_a_package_manager_s_own_child_is_not_flagged(sc: Scenario) -> None:
    rule = "Package Manager in Container"
    for query in (("-s", "install", "bash"), ("check",), ("--version",)):
        assert rule not in sc.spawn(100, "/usr/bin/apt-get", *query)[1], query
    for change in (("-y", "install", "curl"), ("-q", "install", "curl"), ("-v", "add", "x")):
        assert rule in sc.spawn(100, "/usr/bin/apt-get", *change)[1], change
    assert rule in sc.spawn(100, "/usr/bin/apt-get")[1]  # no argument: not a query
    apt, _ = sc.spawn(100, "/usr/bin/apt-get", "-y", "install", "curl")
    assert rule not in sc.spawn(apt, "/usr/bin/dpkg", "--unpack", "curl.deb")[1]


def test_sensitive_file_read(sc: Scenario) -> None:
    tid, _ = sc.spawn(100, "/bin/cat", "/etc/shadow")
    assert "Read Sensitive File in Container" in sc.open(tid, "/etc/shadow", PPM_O_RDONLY)
    assert sc.open(tid, "/etc/passwd", PPM_O_RDONLY, fd=4) == []


def _connect(sc: Scenario, tid: int, dest: str, port: int, fd: int) -> list[str]:
    sc.event("socket", tid, {"fd": fd, "domain": 2, "type": 1, "proto": 0})
    tup = SockTuple(
        family="inet",
        source=ipaddress.ip_address("172.30.0.2"),
        sport=40000 + fd,
        dest=ipaddress.ip_address(dest),
        dport=port,
    )
    return sc.event("connect", tid, {"res": 0, "tuple": tup, "fd": fd})


def test_outbound_connection(sc: Scenario) -> None:
    tid, _ = sc.spawn(100, "/usr/bin/wget")
    assert "Unexpected Outbound Connection from Container" in _connect(
        sc, tid, "203.0.113.7", 443, 3
    )
    assert _connect(sc, tid, "10.1.2.3", 443, 4) == []  # a private address: benign


def test_privilege_change_to_root(sc: Scenario) -> None:
    tid, _ = sc.spawn(100, "/usr/bin/su-exploit", uid=1000)
    assert "Privilege Change to Root in Container" in sc.event("setuid", tid, {"res": 0, "uid": 0})
    # the runtime's init setting the container's user up before exec: benign
    setup = sc.state.threads.get(100)
    assert setup is not None
    setup.comm = "bastion-runc"
    assert sc.event("setresuid", 100, {"res": 0, "ruid": 0, "euid": 0, "suid": 0}) == []
    other, _ = sc.spawn(100, "/usr/bin/app", uid=1000)
    assert sc.event("setuid", other, {"res": 0, "uid": 1001}) == []
    failed, _ = sc.spawn(100, "/usr/bin/app", uid=1000)
    assert sc.event("setuid", failed, {"res": -1, "uid": 0}) == []


def test_kernel_module(sc: Scenario) -> None:
    tid, _ = sc.spawn(100, "/sbin/insmod")
    assert "Kernel Module Loaded from Container" in sc.event(
        "finit_module", tid, {"res": -1, "fd": 3, "uargs": "", "flags": 0}
    )
    host_tid, _ = sc.spawn(50, "/sbin/modprobe", cgroup=0)
    host_load = {"res": 0, "fd": 3, "uargs": "", "flags": 0}
    assert sc.event("finit_module", host_tid, host_load, cgroup=0) == []  # the host: benign


def test_namespace_change(sc: Scenario) -> None:
    tid, _ = sc.spawn(100, "/usr/bin/unshare")
    assert "Namespace Change in Container" in sc.event("unshare", tid, {"res": 0, "flags": 0x20000})
    assert sc.event("unshare", tid, {"res": -1, "flags": 0x20000}) == []  # refused: benign


def test_mount_attempt(sc: Scenario) -> None:
    rule = "Mount Attempt in Container"
    tid, _ = sc.spawn(100, "/bin/mount", "-t", "tmpfs", "none", "/mnt")
    mount = {"dev": "none", "dir": "/mnt", "type": "tmpfs", "flags": 0}
    assert rule in sc.event("mount", tid, {"res": -1, **mount})  # EPERM: refused
    assert rule in sc.event("umount2", tid, {"res": -1, "name": "/proc", "flags": 0})
    done = sc.event("mount", tid, {"res": 0, **mount})  # succeeded: the namespace rule's
    assert rule not in done and "Namespace Change in Container" in done
    assert sc.event("mount", 50, {"res": -1, **mount}, cgroup=0) == []  # the host's


def test_ptrace(sc: Scenario) -> None:
    tid, _ = sc.spawn(100, "/usr/bin/gdb")
    # requests are Falco's PPM_PTRACE_* values (the probe's decoder converts the kernel's)
    attach = sc.event("ptrace", tid, {"res": 0, "addr": 0, "data": 0, "request": 11, "pid": 101})
    assert "Ptrace in Container" in attach  # PTRACE_ATTACH
    peek = sc.event("ptrace", tid, {"res": 0, "addr": 0, "data": 0, "request": 3, "pid": 101})
    assert peek == []  # PTRACE_PEEKDATA reads: not in the rule's list


def test_fileless_exec(sc: Scenario) -> None:
    assert "Fileless Execution in Container" in sc.spawn(100, "/memfd:payload (deleted)")[1]
    assert "Fileless Execution in Container" not in sc.spawn(100, "/bin/true")[1]


def test_exec_from_dev_shm(sc: Scenario) -> None:
    assert "Execution from /dev/shm in Container" in sc.spawn(100, "/dev/shm/x")[1]
    assert sc.spawn(100, "/tmp/x")[1] == []
