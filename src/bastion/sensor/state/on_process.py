"""Event handlers for the process family: clone/fork, execve, exit, cwd, credentials.

One function per event family (libsinsp's parsers.cpp split, docs/conventions.md §11). Each takes
the state, the event and the thread the event came from; only successful calls (res >= 0, or
res == 0 where the call returns 0) change anything.
"""

from __future__ import annotations

from bastion.sensor.events.model import Event
from bastion.sensor.state import flags
from bastion.sensor.state.fds import abspath, copy_table
from bastion.sensor.state.model import Thread
from bastion.sensor.state.params import as_int as _int
from bastion.sensor.state.tables import Tables

_UNCHANGED = (-1, 0xFFFFFFFF)
_SAME_CLONE_NS = 1_000_000_000  # setres*id: "leave this one as it is"


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def on_clone(state: Tables, event: Event) -> Thread | None:
    """Create the new thread and return the thread the event came from.

    Three shapes reach here: .scap's exit in the parent (res = child tid, params describe the
    parent), .scap's exit in the child (res == 0, params describe the child), and the live
    probe's one event describing the child (params tid differs from the event's tid).
    """
    p = event.params
    res = event.res if event.res is not None else _int(p.get("res"))
    if res is None or res < 0:
        return None
    clone_flags = _int(p.get("flags")) or 0
    is_thread = bool(clone_flags & flags.CLONE_THREAD)
    ptid_param, pid_param = _int(p.get("ptid")), _int(p.get("pid"))
    tid_param = _int(p.get("tid"))
    describes_child = res == 0 or (tid_param is not None and tid_param != event.tid)
    if describes_child:
        child_tid = tid_param if tid_param is not None else event.tid
        # A thread's kernel parent is its process's parent: the creator is the process.
        creator_tid = pid_param if is_thread else ptid_param
        creator = state.thread_for(creator_tid) if creator_tid else None
    else:
        child_tid = res
        creator = state.thread_for(event.tid, event.pid)
    if child_tid is None or child_tid <= 0:
        return None
    existing = state.threads.get(child_tid)
    # A record for the child made by the other half of this same clone (the child's exit
    # can come first) is kept; an older one is a previous owner of a reused tid whose exit
    # was missed, and is replaced.
    if existing is None or abs(event.ts - existing.start_ts) > _SAME_CLONE_NS:
        child = _new_child(state, event, child_tid, creator, is_thread, clone_flags)
        if describes_child:
            _override(child, p, pid_param, ptid_param)
        if creator is not None and creator.setup_of:
            state.cloned_in_setup(creator, child)
        state.add_thread(child)
    return state.threads.get(event.tid)


def _new_child(
    state: Tables,
    event: Event,
    tid: int,
    creator: Thread | None,
    is_thread: bool,
    clone_flags: int,
) -> Thread:
    if creator is None:
        return Thread(tid=tid, pid=tid, start_ts=event.ts, cgroup_id=event.cgroup_id)
    if is_thread or clone_flags & flags.CLONE_FILES:
        fds = creator.fds  # one table, shared (CLONE_FILES; threads always share)
    else:
        fds = copy_table(creator.fds)
        state.copied_fd_tables += 1
    return Thread(
        tid=tid,
        pid=creator.pid if is_thread else tid,
        ptid=creator.ptid if is_thread else creator.tid,
        comm=creator.comm,
        exe=creator.exe,
        exepath=creator.exepath,
        args=creator.args,
        env=creator.env,
        cwd=creator.cwd,
        uid=creator.uid,
        gid=creator.gid,
        euid=creator.euid,
        egid=creator.egid,
        loginuid=creator.loginuid,
        sid=creator.sid,
        vpgid=creator.vpgid,
        tty=creator.tty,
        start_ts=event.ts,
        cgroup_id=event.cgroup_id or creator.cgroup_id,
        cgroups=creator.cgroups,
        container_id=creator.container_id,
        setup_of=creator.setup_of,
        cap_permitted=creator.cap_permitted,
        cap_effective=creator.cap_effective,
        cap_inheritable=creator.cap_inheritable,
        exe_writable=creator.exe_writable,
        exe_upper_layer=creator.exe_upper_layer,
        exe_from_memfd=creator.exe_from_memfd,
        fds=fds,
    )


def _override(child: Thread, p: dict[str, object], pid: int | None, ptid: int | None) -> None:
    """Values the event states about the child win over those inherited."""
    if pid:
        child.pid = pid
    if ptid is not None:
        child.ptid = ptid
    for name in ("exe", "cwd", "comm"):
        value = _str(p.get(name))
        if value:
            setattr(child, name, value)
    args = p.get("args")
    if isinstance(args, tuple):
        child.args = args
    for name in ("uid", "gid", "vtid", "vpid"):
        number = _int(p.get(name))
        if number is not None:
            setattr(child, name, number)
    if _int(p.get("uid")) is not None:
        child.euid = child.uid
    if _int(p.get("gid")) is not None:
        child.egid = child.gid


def on_execve(state: Tables, event: Event, thread: Thread) -> None:
    p = event.params
    if event.res is None or event.res < 0:
        return
    for name in ("exe", "comm"):
        value = _str(p.get(name))
        if value is not None:
            setattr(thread, name, value)
    # The cwd survives execve; libsinsp never reads execve's cwd (newer drivers send it
    # empty). Only a thread whose cwd is unknown takes it.
    cwd = _str(p.get("cwd"))
    if cwd and not thread.cwd:
        thread.cwd = cwd
    if _str(p.get("comm")) is None and _str(p.get("exe")):
        thread.comm = _str(p.get("exe")) or thread.comm  # old captures: no comm, exe stands in
    _adopt_ids(thread, p)
    for name in ("args", "env"):
        strings = p.get(name)
        if isinstance(strings, tuple):
            setattr(thread, name, strings)
    for name in (
        "tty",
        "vpgid",
        "uid",
        "gid",
        "euid",
        "egid",
        "loginuid",
        "cap_inheritable",
        "cap_permitted",
        "cap_effective",
    ):
        number = _int(p.get(name))
        if number is not None:
            setattr(thread, name, number)
    cgroups = p.get("cgroups")
    if isinstance(cgroups, tuple) and cgroups:
        # libsinsp takes the cgroups execve reports (a process may have moved since its
        # clone, and a thread met first here has no other source): re-place it
        thread.cgroups = tuple(
            (subsys, path) for subsys, _, path in (str(c).partition("=") for c in cgroups)
        )
        state.place(thread)
    thread.exepath = _exepath(state, event, thread) or thread.exepath
    thread.exe_from_memfd = thread.exepath.startswith("/memfd:")
    # close-on-exec fds go away with the old image (libsinsp does the same).
    for num in [n for n, fd in thread.fds.items() if fd.flags & flags.O_CLOEXEC]:
        del thread.fds[num]
    thread.exec_seen = True
    state.executed(thread)


def _adopt_ids(thread: Thread, p: dict[str, object]) -> None:
    """execve's exit states the process's pid and parent. libsinsp always takes the pid, and
    the parent only for a thread it knew nothing about (no clone, no process-list entry):
    that is how a process started just before a capture keeps its ``proc.pname``."""
    pid, ptid = _int(p.get("pid")), _int(p.get("ptid"))
    if pid is not None and pid > 0:
        thread.pid = pid
    if ptid is not None and ptid > 0 and thread.ptid <= 0:
        thread.ptid = ptid


def _exepath(state: Tables, event: Event, thread: Thread) -> str:
    p = event.params
    trusted = _str(p.get("trusted_exepath"))
    if trusted:
        return trusted
    filename = _str(p.get("filename")) or _str(state.enter_param(event, "filename"))
    if filename:
        return abspath(thread.cwd, filename)
    pathname = _str(p.get("pathname"))
    if pathname:
        dirfd = _int(p.get("dirfd"))
        base = thread.fds[dirfd].name if dirfd is not None and dirfd in thread.fds else None
        return abspath(thread.cwd, pathname, base)
    return ""


def on_procexit(state: Tables, event: Event, thread: Thread) -> None:
    """The thread is gone: purge it. `event.thread` keeps the record for this event."""
    thread.is_exited = True
    state.remove_thread(thread.tid)


def _set_cwd(state: Tables, thread: Thread, cwd: str) -> None:
    # The cwd is per process (CLONE_FS): keep the main thread's copy in step too.
    thread.cwd = cwd
    main = state.threads.get(thread.pid)
    if main is not None:
        main.cwd = cwd


def on_chdir(state: Tables, event: Event, thread: Thread) -> None:
    if event.res != 0:
        return
    path = _str(event.params.get("path")) or _str(state.enter_param(event, "path"))
    if path:
        _set_cwd(state, thread, abspath(thread.cwd, path))


def on_fchdir(state: Tables, event: Event, thread: Thread) -> None:
    if event.res != 0:
        return
    num = _int(event.params.get("fd"))
    if num is None:
        num = _int(state.enter_param(event, "fd"))
    fd = thread.fds.get(num) if num is not None else None
    if fd is not None and fd.name:
        _set_cwd(state, thread, fd.name)


def _ids(state: Tables, event: Event, *names: str) -> list[int | None]:
    found: list[int | None] = []
    for name in names:
        value = _int(event.params.get(name))
        if value is None:
            value = _int(state.enter_param(event, name))
        found.append(None if value in _UNCHANGED else value)
    return found


def on_setuid(state: Tables, event: Event, thread: Thread) -> None:
    if event.res != 0:
        return
    (uid,) = _ids(state, event, "uid")
    if uid is not None:
        thread.uid = thread.euid = uid


def on_setgid(state: Tables, event: Event, thread: Thread) -> None:
    if event.res != 0:
        return
    (gid,) = _ids(state, event, "gid")
    if gid is not None:
        thread.gid = thread.egid = gid


def on_setresuid(state: Tables, event: Event, thread: Thread) -> None:
    if event.res != 0:
        return
    ruid, euid = _ids(state, event, "ruid", "euid")
    thread.uid = thread.uid if ruid is None else ruid
    thread.euid = thread.euid if euid is None else euid


def on_setresgid(state: Tables, event: Event, thread: Thread) -> None:
    if event.res != 0:
        return
    rgid, egid = _ids(state, event, "rgid", "egid")
    thread.gid = thread.gid if rgid is None else rgid
    thread.egid = thread.egid if egid is None else egid


def on_capset(state: Tables, event: Event, thread: Thread) -> None:
    if event.res != 0:
        return
    for name in ("cap_inheritable", "cap_permitted", "cap_effective"):
        value = _int(event.params.get(name))
        if value is not None:
            setattr(thread, name, value)
