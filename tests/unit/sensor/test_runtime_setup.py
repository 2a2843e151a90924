"""The runtime's set-up of a bastion container raises no alert; the container's own processes do
(issue [falco-parity] item 4), on event sequences shaped like bastion-runc's create and start.

The sequence is the runtime's, told by identity and phase (the identity record names the init's
host pid), not by process names: every process below is named like a container's program. The
live test with real bundles is tests/integration/test_default_rules_live.py.
"""

from __future__ import annotations

import itertools

from bastion.sensor.assemble import load_rules
from bastion.sensor.events.model import Direction, Event
from bastion.sensor.events.schema import BY_NAME
from bastion.sensor.pipeline import Pipeline
from bastion.sensor.state import SensorState
from bastion.sensor.state.model import Container, Thread

CGROUP, HOST_CGROUP = 4242, 1
CID = "c0ffee" * 10 + "abcd"
RUNTIME, INTERMEDIATE, INIT = 50, 300, 301
NAMESPACE = "Namespace Change in Container"
SHELL = "Shell Spawned in Container"


class Runtime:
    """A state that knows the container from its identity record (init pid 301)."""

    def __init__(self, init_pid: int = INIT) -> None:
        self.state = SensorState(
            runtime_roots=(), proc_root="/nonexistent", host_root="/nonexistent"
        )
        self.state.live = False
        self.state.containers.add(
            Container(id=CID, name="job", kind="bastion", cgroup_id=CGROUP, init_pid=init_pid)
        )
        runtime = Thread(
            tid=RUNTIME, pid=RUNTIME, comm="bastion-runc", exe="bastion-runc", cgroup_id=HOST_CGROUP
        )
        self.state.add_thread(runtime)
        self.state._place(runtime)  # seeded: on the host
        rules = load_rules(None, self.state, rule_matching="all")
        self.pipeline = Pipeline(engine=rules.engine, state=self.state, hostname="test")
        self.num = itertools.count(1)

    def event(self, name: str, tid: int, params: dict[str, object], cgroup: int) -> list[str]:
        spec = BY_NAME[name]
        res = params.get("res")
        evt = Event(
            num=next(self.num), ts=1_700_000_000_000_000_000 + next(self.num), cpu=0, tid=tid,
            pid=tid, type=name, dir=Direction.EXIT, category=spec.category, params=params,
            specs=spec.specs, res=res if isinstance(res, int) else None, cgroup_id=cgroup,
        )  # fmt: skip
        return [a.rule for a in self.pipeline.feed([evt])]

    def clone(self, parent: int, child: int, cgroup: int = CGROUP) -> list[str]:
        params: dict[str, object] = {"res": child, "tid": child, "pid": child, "ptid": parent,
                                     "flags": 0, "uid": 0, "gid": 0, "vtid": child,
                                     "vpid": child}  # fmt: skip
        return self.event("clone", parent, params, cgroup)

    def execve(self, tid: int, path: str, *args: str, cgroup: int = CGROUP) -> list[str]:
        name = path.rsplit("/", 1)[-1]
        params = {"res": 0, "exe": path, "args": args, "tid": tid, "pid": tid, "ptid": 0,
                  "cwd": "/", "comm": name, "uid": 0, "gid": 0, "euid": 0, "egid": 0,
                  "filename": path, "trusted_exepath": path}  # fmt: skip
        return self.event("execve", tid, params, cgroup)

    def setns(self, tid: int, cgroup: int = CGROUP) -> list[str]:
        return self.event("setns", tid, {"res": 0, "fd": 5, "nstype": 0x20000}, cgroup)

    def mount(self, tid: int, cgroup: int = CGROUP) -> list[str]:
        params = {"res": 0, "dev": "/src", "dir": "/rootfs/mnt", "type": "", "flags": 4096}
        return self.event("mount", tid, params, cgroup)


def create_and_start(rt: Runtime) -> list[str]:
    """bastion-runc create + start with createContainer/startContainer hooks (shell scripts),
    namespaces joined by path and a bind mount: every alert the sequence raised."""
    alerts: list[str] = []
    alerts += rt.clone(RUNTIME, INTERMEDIATE, cgroup=HOST_CGROUP)
    alerts += rt.setns(INTERMEDIATE)  # moved into the cgroup, joins a namespace by path
    alerts += rt.event("unshare", INTERMEDIATE, {"res": 0, "flags": 0x20000}, CGROUP)
    alerts += rt.clone(INTERMEDIATE, INIT)
    alerts += rt.mount(INIT)  # the rootfs and the bind mount
    for hook in (310, 311):  # createContainer, then startContainer
        alerts += rt.clone(INIT, hook)
        alerts += rt.execve(hook, "/bin/sh", "/hooks/hook.sh")
        alerts += rt.mount(hook)
    alerts += rt.execve(INIT, "/bin/app")  # the user's process starts
    return alerts


def test_the_runtime_set_up_raises_nothing_the_container_process_does() -> None:
    rt = Runtime()
    assert create_and_start(rt) == []
    assert rt.state.container_of(rt.state.threads.get(INIT)).id == CID  # type: ignore[arg-type]
    assert NAMESPACE in rt.mount(INIT)  # the container's own process misbehaves
    assert SHELL in rt.clone(INIT, 320) + rt.execve(320, "/bin/sh", "-c", "id")


def test_a_process_exec_d_into_the_container_is_the_container_s_after_its_exec() -> None:
    rt = Runtime()
    create_and_start(rt)
    assert rt.clone(RUNTIME, 400, cgroup=HOST_CGROUP) == []
    assert rt.setns(400) == []  # bastion-runc exec joining the container
    assert rt.clone(400, 401) == []  # forks to enter the pid namespace
    assert rt.execve(401, "/bin/ls") == []
    assert NAMESPACE in rt.setns(401)
    # a process that joined and execs itself is the container's too
    assert rt.clone(RUNTIME, 402, cgroup=HOST_CGROUP) + rt.setns(402) == []
    assert SHELL in rt.execve(402, "/bin/sh", "-c", "true")


def test_without_an_init_pid_every_process_in_the_cgroup_is_the_container_s() -> None:
    """The gate needs the identity's init pid; a container known otherwise is not gated (and
    this is what makes the test above able to fail)."""
    rt = Runtime(init_pid=0)
    alerts = create_and_start(rt)
    assert NAMESPACE in alerts and SHELL in alerts


def test_the_kernel_says_whether_a_process_has_exec_d_since_its_fork() -> None:
    """How an init met from /proc is known to be in its set-up (PF_FORKNOEXEC)."""
    import os
    import signal

    from bastion.sensor.state.procfs import forked_without_exec

    child = os.fork()
    if child == 0:  # the child only waits to be looked at
        signal.pause()
        os._exit(0)
    try:
        assert forked_without_exec("/proc", child)
        assert not forked_without_exec("/proc", os.getpid())  # pytest's python was exec'd
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)


def test_an_init_identified_only_after_its_exec_is_the_container_s() -> None:
    """The identity record can come after the init's first events (a loaded sensor reads it
    late): an init already seen to exec is the user's process, and so is what it forks."""
    rt = Runtime()
    rt.state.containers.remove(CID)  # not known yet
    rt.clone(RUNTIME, INTERMEDIATE, cgroup=HOST_CGROUP)
    rt.setns(INTERMEDIATE)
    rt.clone(INTERMEDIATE, INIT)
    assert rt.execve(INIT, "/usr/local/bin/app", "--serve") == []  # still unidentified
    rt.state.containers.add(
        Container(id=CID, name="job", kind="bastion", cgroup_id=CGROUP, init_pid=INIT)
    )
    rt.state._place(rt.state.threads.get(INIT), arriving=True)  # type: ignore[arg-type]
    assert SHELL in rt.clone(INIT, 330) + rt.execve(330, "/bin/sh", "-c", "true")
