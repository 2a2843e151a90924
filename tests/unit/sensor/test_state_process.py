"""The thread table fed with synthetic events: clone in all its shapes, exec, exit, cwd,
credentials, bounds, ancestry."""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.sensor.events.model import Event
from bastion.sensor.events.schema import BY_NAME
from bastion.sensor.state import SensorState, Thread
from bastion.sensor.state.flags import CLONE_FILES, CLONE_THREAD, O_CLOEXEC
from bastion.sensor.state.model import Fd, FdType

NUM = iter(range(1, 1_000_000))


def ev(kind: str, on: int, /, res: int | None = 0, direction: str = "<", **params: object) -> Event:
    spec = BY_NAME.get(kind)
    return Event(
        num=next(NUM),
        ts=1_700_000_000_000_000_000,
        cpu=0,
        tid=on,
        pid=0,
        type=kind,
        dir=direction,
        category=spec.category if spec else "unknown",
        params=dict(params),
        specs=spec.specs if spec else {},
        res=res,
    )


@pytest.fixture
def state(tmp_path: Path) -> SensorState:
    """A replaying state (no /proc lookups) with one shell process, pid 100, child of 1."""
    s = SensorState(runtime_roots=(str(tmp_path / "run"),), proc_root=str(tmp_path / "proc"))
    s.seed_from_scap([], [])
    init = s.add_thread(Thread(tid=1, pid=1, comm="init", exe="/sbin/init"))
    shell = Thread(tid=100, pid=100, ptid=1, comm="bash", exe="bash", cwd="/home/u", uid=1000)
    shell.exepath = "/usr/bin/bash"
    shell.fds[0] = Fd(num=0, type=FdType.FILE, name="/dev/null")
    shell.fds[5] = Fd(num=5, type=FdType.FILE, name="/etc/x", flags=O_CLOEXEC)
    s.add_thread(shell)
    assert init.tid == 1
    return s


def test_fork_in_parent_copies_the_fd_table(state: SensorState) -> None:
    e = ev("clone", 100, res=200, tid=100, pid=100, ptid=1, flags=0)
    state.apply(e)
    child = state.threads.get(200)
    assert child is not None and e.thread is state.threads.get(100)
    assert (child.pid, child.ptid, child.comm, child.cwd, child.uid) == (
        200,
        100,
        "bash",
        "/home/u",
        1000,
    )
    parent = state.process(100)
    assert parent is not None
    assert child.fds is not parent.fds and child.fds[0] == parent.fds[0]
    child.fds[0].name = "/changed"
    assert parent.fds[0].name == "/dev/null"
    assert state.parent(child) is parent
    assert [t.tid for t in state.ancestors(child)] == [100, 1]


def test_thread_clone_shares_fds_and_pid(state: SensorState) -> None:
    state.apply(
        ev("clone", 100, res=101, tid=100, pid=100, ptid=1, flags=CLONE_THREAD | CLONE_FILES)
    )
    thread = state.threads.get(101)
    parent = state.process(100)
    assert thread is not None and parent is not None
    assert (thread.pid, thread.ptid) == (100, 1)
    assert thread.fds is parent.fds
    assert state.parent(thread) is state.process(1)


def test_clone_files_without_thread_shares_the_table(state: SensorState) -> None:
    state.apply(ev("clone", 100, res=300, tid=100, pid=100, ptid=1, flags=CLONE_FILES))
    child, parent = state.threads.get(300), state.process(100)
    assert child is not None and parent is not None
    assert child.pid == 300 and child.fds is parent.fds


def test_clone_seen_first_in_the_child(state: SensorState) -> None:
    # .scap: the child's exit (res 0) may come before the parent's; params describe the child.
    state.apply(ev("fork", 400, res=0, tid=400, pid=400, ptid=100, flags=0, comm="bash"))
    child = state.threads.get(400)
    assert child is not None and child.ptid == 100 and child.cwd == "/home/u"
    state.apply(ev("fork", 100, res=400, tid=100, pid=100, ptid=1, flags=0))
    assert state.threads.get(400) is child  # not recreated by the parent's event


def test_thread_clone_seen_in_the_child_uses_the_process_as_creator(state: SensorState) -> None:
    # For a thread, ptid is the process's parent (the kernel's real_parent).
    state.apply(ev("clone", 102, res=0, tid=102, pid=100, ptid=1, flags=CLONE_THREAD))
    thread, parent = state.threads.get(102), state.process(100)
    assert thread is not None and parent is not None
    assert thread.fds is parent.fds and thread.exepath == "/usr/bin/bash"


def test_probe_clone_event_describes_the_child(state: SensorState) -> None:
    e = ev("clone", 100, res=500, tid=500, pid=500, ptid=100, flags=0, comm="bash", vtid=1, vpid=1)
    state.apply(e)
    child = state.threads.get(500)
    assert child is not None and (child.pid, child.ptid, child.vpid) == (500, 100, 1)
    assert e.thread is state.threads.get(100)


def test_clone_replaces_a_stale_record_of_a_reused_tid(state: SensorState) -> None:
    stale = state.add_thread(Thread(tid=800, pid=800, ptid=1, comm="old", start_ts=1))
    state.apply(ev("clone", 100, res=800, tid=100, pid=100, ptid=1, flags=0))
    fresh = state.threads.get(800)
    assert fresh is not None and fresh is not stale and (fresh.comm, fresh.ptid) == ("bash", 100)


def test_failed_clone_changes_nothing(state: SensorState) -> None:
    before = len(state.threads)
    state.apply(ev("clone", 100, res=-11, tid=100, pid=100, ptid=1, flags=0))
    assert len(state.threads) == before


def test_execve_replaces_the_image_and_closes_cloexec_fds(state: SensorState) -> None:
    e = ev(
        "execve",
        100,
        res=0,
        exe="ls",
        args=("-l", "/tmp"),
        comm="ls",
        cwd="/home/u",
        env=("A=1",),
        uid=0,
        euid=0,
        gid=0,
        egid=0,
        cap_permitted=0x3F,
        cap_effective=0x3F,
        cap_inheritable=0,
        filename="/bin/ls",
        trusted_exepath="/usr/bin/ls",
    )
    state.apply(e)
    t = state.process(100)
    assert t is not None and e.thread is t and e.pid == 100
    assert (t.exe, t.args, t.comm, t.env, t.uid, t.cap_effective) == (
        "ls",
        ("-l", "/tmp"),
        "ls",
        ("A=1",),
        0,
        0x3F,
    )
    assert t.exepath == "/usr/bin/ls"
    assert 5 not in t.fds and 0 in t.fds


def test_execve_exepath_from_relative_filename(state: SensorState) -> None:
    state.apply(ev("execve", 100, res=0, exe="./run", comm="run", filename="./bin/../run"))
    t = state.process(100)
    assert t is not None and t.exepath == "/home/u/run"


def test_execve_exepath_from_memfd(state: SensorState) -> None:
    state.apply(ev("execve", 100, res=0, trusted_exepath="/memfd:x (deleted)"))
    t = state.process(100)
    assert t is not None and t.exe_from_memfd


def test_failed_execve_changes_nothing(state: SensorState) -> None:
    state.apply(ev("execve", 100, res=-2, exe="nope", comm="nope", filename="/nope"))
    t = state.process(100)
    assert t is not None and t.comm == "bash"


def test_procexit_purges_but_event_keeps_the_thread(state: SensorState) -> None:
    e = ev("procexit", 100, res=None, direction=">", status=0, ret=0, sig=0, core=0)
    state.apply(e)
    assert state.threads.get(100) is None
    assert e.thread is not None and e.thread.tid == 100 and e.thread.is_exited
    assert state.stats()["threads_purged"] == 1


def test_chdir_and_fchdir(state: SensorState) -> None:
    state.apply(ev("chdir", 100, res=0, path="../v/./w"))
    t = state.process(100)
    assert t is not None and t.cwd == "/home/v/w"
    state.apply(ev("chdir", 100, res=-2, path="/nonexistent"))
    assert t.cwd == "/home/v/w"
    state.apply(ev("openat", 100, res=7, dirfd=-100, name="/srv", flags=1 << 10))
    state.apply(ev("fchdir", 100, res=0, fd=7))
    assert t.cwd == "/srv"


def test_chdir_from_a_thread_moves_the_process(state: SensorState) -> None:
    state.apply(ev("clone", 100, res=101, tid=100, pid=100, ptid=1, flags=CLONE_THREAD))
    state.apply(ev("chdir", 101, res=0, path="/opt"))
    main = state.process(100)
    assert main is not None and main.cwd == "/opt"


def test_setuid_family(state: SensorState) -> None:
    t = state.process(100)
    assert t is not None
    state.apply(ev("setuid", 100, res=0, uid=33))
    assert (t.uid, t.euid) == (33, 33)
    state.apply(ev("setresuid", 100, res=0, ruid=0xFFFFFFFF, euid=44, suid=0xFFFFFFFF))
    assert (t.uid, t.euid) == (33, 44)
    state.apply(ev("setgid", 100, res=0, gid=7))
    state.apply(ev("setresgid", 100, res=0, rgid=8, egid=-1, sgid=-1))
    assert (t.gid, t.egid) == (8, 7)
    state.apply(ev("setuid", 100, res=-1, uid=0))
    assert t.euid == 44


def test_capset(state: SensorState) -> None:
    state.apply(ev("capset", 100, res=0, cap_inheritable=1, cap_permitted=3, cap_effective=2))
    t = state.process(100)
    assert t is not None and (t.cap_inheritable, t.cap_permitted, t.cap_effective) == (1, 3, 2)


def test_unknown_thread_in_replay_is_created_bare(state: SensorState) -> None:
    e = ev("read", 777, res=3, fd=0)
    e.pid = 770
    state.apply(e)
    assert e.thread is not None and (e.thread.tid, e.thread.pid) == (777, 770)
    assert state.stats()["proc_lookups"] == 0


def test_enter_parameters_serve_the_exit(state: SensorState) -> None:
    # Old captures put close's fd on the enter event only.
    state.apply(ev("close", 100, res=None, direction=">", fd=0))
    e = ev("close", 100, res=0)
    state.apply(e)
    t = state.process(100)
    assert t is not None and 0 not in t.fds
    assert e.fd is not None and e.fd.name == "/dev/null"


def test_thread_table_is_bounded(tmp_path: Path) -> None:
    s = SensorState(max_threads=10, proc_root=str(tmp_path))
    s.seed_from_scap([], [])
    for tid in range(1, 26):
        s.apply(ev("read", tid, res=0))
    stats = s.stats()
    assert stats["threads"] == 10 and stats["threads_evicted"] == 15
    assert s.threads.get(1) is None and s.threads.get(25) is not None


def test_ancestors_stop_on_a_loop(state: SensorState) -> None:
    a = state.add_thread(Thread(tid=600, pid=600, ptid=601))
    state.add_thread(Thread(tid=601, pid=601, ptid=600))
    assert [t.tid for t in state.ancestors(a)] == [601]
    assert state.parent(state.threads.get(1) or a) is None


def test_execve_of_a_bare_thread_adopts_its_pid_and_parent(state: SensorState) -> None:
    """A process started just before the capture is met first at its execve exit: libsinsp
    patches the parent of such a fake entry from the event, so proc.pname works."""
    e = ev("execve", 500, res=0, exe="curl", args=("-6",), tid=500, pid=500, ptid=100, cwd="/h")
    state.apply(e)
    t = state.process(500)
    assert t is not None and (t.pid, t.ptid, t.comm, t.cwd) == (500, 100, "curl", "/h")
    parent = state.parent(t)
    assert parent is not None and parent.comm == "bash"


def test_execve_keeps_a_known_parent_and_cwd(state: SensorState) -> None:
    e = ev("execve", 100, res=0, exe="ls", comm="ls", tid=100, pid=100, ptid=42, cwd="")
    state.apply(e)
    t = state.process(100)
    assert t is not None and (t.ptid, t.cwd, t.comm) == (1, "/home/u", "ls")


def test_execve_cgroups_place_the_process_in_its_container(state: SensorState) -> None:
    cid = "ab" * 32
    cgroups = (f"cpu=/docker/{cid}", f"pids=/docker/{cid}")
    e = ev("execve", 600, res=0, exe="nologin", tid=600, pid=600, ptid=599, cgroups=cgroups)
    state.apply(e)
    t = state.process(600)
    assert t is not None and t.cgroups == (("cpu", f"/docker/{cid}"), ("pids", f"/docker/{cid}"))
    assert state.container_of(t).id == cid and state.container_of(t).kind == "docker"
