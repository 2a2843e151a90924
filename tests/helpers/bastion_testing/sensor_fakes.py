"""A hand-written stand-in for the sensor state with exactly the API fields use, and event
builders, shared by the test_fields_* modules (no tests here)."""

from __future__ import annotations

from collections.abc import Iterator

from bastion.sensor.events.model import Event, ParamSpec
from bastion.sensor.fields import FieldRegistry
from bastion.sensor.rules import MISSING, compile_condition, parse_condition
from bastion.sensor.state.model import HOST_CONTAINER, Container, Fd, Group, Thread, User


class FakeThreads:
    def __init__(self) -> None:
        self.by_tid: dict[int, Thread] = {}

    def get(self, tid: int) -> Thread | None:
        return self.by_tid.get(tid)


class FakeUsers:
    def __init__(self) -> None:
        self.users: dict[tuple[str, int], User] = {}
        self.groups: dict[tuple[str, int], Group] = {}

    def user(self, uid: int, container: Container) -> User | None:
        return self.users.get((container.id, uid))

    def group(self, gid: int, container: Container) -> Group | None:
        return self.groups.get((container.id, gid))


class FakeState:
    """Threads by tid, parents by ``ptid``, containers by ``Thread.container_id``."""

    def __init__(self) -> None:
        self.threads = FakeThreads()
        self.users = FakeUsers()
        self.containers: dict[str, Container] = {}

    def add(self, *threads: Thread) -> None:
        for t in threads:
            self.threads.by_tid[t.tid] = t

    def process(self, pid: int) -> Thread | None:
        return self.threads.get(pid)

    def parent(self, thread: Thread) -> Thread | None:
        parent = self.threads.get(thread.ptid)
        return None if parent is None else self.process(parent.pid)

    def ancestors(self, thread: Thread) -> Iterator[Thread]:
        seen = {thread.pid}
        current = self.parent(thread)
        while current is not None and current.pid not in seen:
            yield current
            seen.add(current.pid)
            current = self.parent(current)

    def container_of(self, thread: Thread) -> Container:
        return self.containers.get(thread.container_id, HOST_CONTAINER)


def event(
    type: str = "openat",
    params: dict[str, object] | None = None,
    *,
    thread: Thread | None = None,
    fd: Fd | None = None,
    res: int | None = None,
    ts: int = 1_700_000_000_123_456_789,
    specs: dict[str, ParamSpec] | None = None,
    dir: str = "<",
) -> Event:
    params = dict(params or {})
    evt = Event(
        num=7,
        ts=ts,
        cpu=3,
        tid=thread.tid if thread else 1,
        pid=thread.pid if thread else 1,
        type=type,
        dir=dir,
        category="file",
        params=params,
        specs=specs if specs is not None else {k: ParamSpec(k, "CHARBUF") for k in params},
        res=res,
    )
    evt.thread = thread
    evt.fd = fd
    return evt


def get(state: FakeState, name: str, evt: Event, arg: str | None = None) -> object:
    getter = FieldRegistry(state).resolve(name, arg)
    assert getter is not None, name
    return getter(evt)


def matches(state: FakeState, cond: str, evt: Event) -> bool:
    fn = compile_condition(parse_condition(cond), macros={}, lists={}, fields=FieldRegistry(state))
    return fn(evt)


def family() -> tuple[FakeState, Thread]:
    """init(1) -> sshd(100) -> bash(200) -> python(300, thread 301 too)."""
    state = FakeState()
    init = Thread(
        tid=1, pid=1, comm="systemd", exe="/sbin/init", exepath="/usr/lib/systemd/systemd"
    )
    sshd = Thread(
        tid=100, pid=100, ptid=1, comm="sshd", exe="/usr/sbin/sshd", exepath="/usr/sbin/sshd"
    )
    bash = Thread(
        tid=200,
        pid=200,
        ptid=100,
        comm="bash",
        exe="-bash",
        exepath="/usr/bin/bash",
        args=("-l",),
        sid=200,
        vpid=200,
    )
    py = Thread(
        tid=300,
        pid=300,
        ptid=200,
        comm="python3",
        exe="python3",
        exepath="/usr/bin/python3.11",
        args=("-c", "print(1)"),
        env=("HOME=/root", "PATH=/usr/bin"),
        cwd="/root",
        sid=200,
        vpid=300,
        tty=34816,
        start_ts=1_700_000_000_000_000_000,
        uid=1000,
        euid=0,
        gid=1000,
        egid=0,
        loginuid=1000,
        cap_effective=(1 << 21) | 1,
        cgroups=(("cpu,cpuacct", "/user.slice"), ("memory", "/m")),
    )
    worker = Thread(tid=301, pid=300, ptid=200, comm="python3", exe="python3")
    state.add(init, sshd, bash, py, worker)
    return state, py


__all__ = ["MISSING", "FakeState", "event", "family", "get", "matches"]
