"""``proc.*`` and ``thread.*``: the event's thread, its process and ancestors (libsinsp
``sinsp_filtercheck_thread.cpp``).

Ancestor fields follow libsinsp: ``proc.aname[0]`` is the process itself, ``[1]`` its parent,
and beyond the root the value is unreadable. Without an index they hold every ancestor (parent
first, the process excluded) as `AnyOf`: a condition matches when one ancestor does, an output
prints them space-joined. The ``proc.exe_ino*`` fields resolve (the stable rules name them) but
read as unknown until the thread table records the executable's inode times.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from bastion.sensor.fields.caps import caps_text
from bastion.sensor.fields.model import (
    AnyOf,
    ArgKind,
    Factory,
    FieldDef,
    Getter,
    StateView,
    int_arg,
    on_thread,
    or_missing,
    thread_getter,
)
from bastion.sensor.rules.ops import MISSING

if TYPE_CHECKING:
    from bastion.sensor.events.model import Event
    from bastion.sensor.state.model import Thread

Read = Callable[["Thread"], object]


def cmdline(t: Thread) -> str:
    """libsinsp ``populate_cmdline``: comm, then the arguments, space-separated."""
    return " ".join((t.comm, *t.args)) if t.args else t.comm


def _main(state: StateView, t: Thread) -> Thread:
    return t if t.tid == t.pid else (state.process(t.pid) or t)


def _ancestor(state: StateView, t: Thread, n: int) -> Thread | None:
    if n == 0:
        return _main(state, t)
    if n < 0:
        return None
    for depth, parent in enumerate(state.ancestors(t), 1):
        if depth == n:
            return parent
    return None


def _ancestral(read: Read) -> Factory:
    """A factory for ``proc.aXXX``: ``[N]`` reads ancestor N; no index means every ancestor
    (`AnyOf`, libsinsp's ``compare_full_a*`` semantics for conditions)."""

    def factory(state: StateView, arg: str | None) -> Getter | None:
        if arg is None:

            def every(evt: Event) -> object:
                t = evt.thread
                if t is None:
                    return MISSING
                values = AnyOf(read(a) for a in state.ancestors(t))
                return values if values else MISSING

            return every
        n = int_arg(arg)
        if n is None:
            return None

        def nth(evt: Event) -> object:
            t = evt.thread
            if t is None:
                return MISSING
            a = _ancestor(state, t, n)
            return MISSING if a is None else read(a)

        return nth

    return factory


def _parent(read: Read) -> Callable[..., Getter | None]:
    def factory(state: StateView, arg: str | None) -> Getter | None:
        del arg

        def get(evt: Event) -> object:
            t = evt.thread
            if t is None:
                return MISSING
            p = state.parent(t)
            return MISSING if p is None else read(p)

        return get

    return factory


def _ppid(state: StateView, arg: str | None) -> Getter | None:
    """libsinsp reads the process's recorded parent id (its main thread's ``ptid``), known
    or not: a parent that exited before the capture still has a pid. The parent's record is
    consulted only to name a thread's process parent correctly."""
    del arg

    def get(evt: Event) -> object:
        t = evt.thread
        if t is None:
            return MISSING
        main = _main(state, t)
        parent = state.parent(main)
        if parent is not None:
            return parent.pid
        return main.ptid if main.ptid > 0 else MISSING

    return get


def _leader(key: Callable[[Thread], int | None], read: Read) -> Callable[..., Getter | None]:
    """The eldest process up the tree sharing the thread's session (or process group) id:
    its leader when the tree is complete (libsinsp ``get_ancestor_field_as_string``)."""

    def factory(state: StateView, arg: str | None) -> Getter | None:
        del arg

        def get(evt: Event) -> object:
            t = evt.thread
            if t is None or key(t) is None:
                return MISSING
            wanted = key(t)
            leader = t
            for a in state.ancestors(t):
                if key(a) != wanted:
                    break
                leader = a
            return read(leader)

        return get

    return factory


def _args(state: StateView, arg: str | None) -> Getter | None:
    del state
    if arg is None:
        return thread_getter(lambda t: " ".join(t.args))
    n = int_arg(arg)
    if n is None:
        return None

    def get(evt: Event) -> object:
        t = evt.thread
        if t is None:
            return MISSING
        return t.args[n] if 0 <= n < len(t.args) else ""

    return get


def env_value(env: tuple[str, ...], name: str) -> str:
    prefix = name + "="
    for item in env:
        if item.startswith(prefix):
            return item[len(prefix) :]
    return ""


def _env(state: StateView, arg: str | None) -> Getter | None:
    del state
    if arg is None:
        return thread_getter(lambda t: " ".join(t.env))
    name = arg

    def get(evt: Event) -> object:
        t = evt.thread
        return MISSING if t is None else env_value(t.env, name)

    return get


def _loginshellid(state: StateView, arg: str | None) -> Getter:
    """The pid of the eldest shell (a comm ending in ``sh``) from the process up."""
    del arg

    def get(evt: Event) -> object:
        t = evt.thread
        if t is None:
            return MISSING
        found: int | None = None
        for p in (_main(state, t), *state.ancestors(t)):
            if p.comm.endswith("sh"):
                found = p.pid
        return or_missing(found)

    return get


def _duration(state: StateView, arg: str | None) -> Getter:
    del state, arg

    def get(evt: Event) -> object:
        t = evt.thread
        if t is None or not t.start_ts:
            return MISSING
        return evt.ts - t.start_ts

    return get


def _stdio(fd: int, attr: str) -> Factory:
    def read(t: Thread) -> object:
        f = t.fds.get(fd)
        return MISSING if f is None else getattr(f, attr)

    return on_thread(read)


def _cgroup(state: StateView, arg: str | None) -> Getter | None:
    del state
    if not arg:
        return None
    controller = arg

    def read(t: Thread) -> object:
        for ctl, path in t.cgroups:
            if controller in ctl.split(","):
                return path
        return MISSING

    return thread_getter(read)


def _thread_fields() -> Iterator[FieldDef]:
    def t(name: str, type: str, doc: str, read: Read) -> FieldDef:
        return FieldDef(name, type, doc, on_thread(read))

    unknown: Read = lambda _t: MISSING  # noqa: E731  (the state does not record it yet)
    yield t("proc.pid", "int64", "Process id (host pid namespace).", lambda x: x.pid)
    yield FieldDef("proc.ppid", "int64", "Parent process id.", _ppid)
    yield t(
        "proc.name",
        "string",
        "Process name (the kernel's comm, 16 chars at most).",
        # a thread met only through its events (no process list entry, no execve) has no
        # name: libsinsp has no threadinfo for it and prints <NA>
        lambda x: x.comm or MISSING,
    )
    yield t("proc.exe", "string", "argv[0] as given to execve.", lambda x: x.exe)
    yield t("proc.exepath", "string", "Full path of the executable.", lambda x: x.exepath)
    yield t("proc.cmdline", "string", "proc.name followed by the arguments.", cmdline)
    yield t(
        "proc.exeline",
        "string",
        "proc.exe followed by the arguments.",
        lambda x: " ".join((x.exe, *x.args)),
    )
    yield FieldDef(
        "proc.args",
        "string",
        "Arguments without argv[0], space-joined; proc.args[N] is argument N.",
        _args,
        ArgKind.OPTIONAL,
    )
    yield t("proc.cmdnargs", "uint64", "Number of arguments.", lambda x: len(x.args))
    yield t(
        "proc.cmdlenargs",
        "uint64",
        "Characters in the arguments, spaces excluded.",
        lambda x: sum(len(a) for a in x.args),
    )
    yield FieldDef(
        "proc.env",
        "string",
        "Environment as K=V K=V; proc.env[NAME] is one variable's value.",
        _env,
        ArgKind.OPTIONAL,
    )
    yield t("proc.cwd", "string", "Current working directory.", lambda x: x.cwd)
    yield t("proc.tty", "uint32", "Controlling terminal number, 0 for none.", lambda x: x.tty)
    yield t("proc.sid", "int64", "Session id.", lambda x: or_missing(x.sid))
    yield t(
        "proc.vpid", "int64", "Process id inside its pid namespace.", lambda x: or_missing(x.vpid)
    )
    yield t(
        "proc.vpgid",
        "int64",
        "Process group id inside the pid namespace.",
        lambda x: or_missing(x.vpgid),
    )
    yield FieldDef(
        "proc.pvpid",
        "int64",
        "Parent's pid inside the pid namespace.",
        _parent(lambda p: or_missing(p.vpid)),
    )
    yield t(
        "proc.is_sid_leader",
        "bool",
        "The process leads its session.",
        lambda x: MISSING if x.sid is None or x.vpid is None else x.sid == x.vpid,
    )
    yield t(
        "proc.is_vpgid_leader",
        "bool",
        "The process leads its process group (namespace view).",
        lambda x: MISSING if x.vpgid is None or x.vpid is None else x.vpgid == x.vpid,
    )
    yield FieldDef(
        "proc.sname",
        "string",
        "Name of the session leader.",
        _leader(lambda x: x.sid, lambda x: x.comm),
    )
    yield FieldDef(
        "proc.sid.exe",
        "string",
        "argv[0] of the session leader.",
        _leader(lambda x: x.sid, lambda x: x.exe),
    )
    yield FieldDef(
        "proc.sid.exepath",
        "string",
        "Executable path of the session leader.",
        _leader(lambda x: x.sid, lambda x: x.exepath),
    )
    yield FieldDef(
        "proc.vpgid.name",
        "string",
        "Name of the process group leader.",
        _leader(lambda x: x.vpgid, lambda x: x.comm),
    )
    yield FieldDef("proc.pname", "string", "Name of the parent process.", _parent(lambda p: p.comm))
    yield FieldDef(
        "proc.pexe", "string", "argv[0] of the parent process.", _parent(lambda p: p.exe)
    )
    yield FieldDef(
        "proc.pexepath", "string", "Executable path of the parent.", _parent(lambda p: p.exepath)
    )
    yield FieldDef("proc.pcmdline", "string", "Command line of the parent.", _parent(cmdline))
    for name, doc, read in (
        (
            "proc.aname",
            "Name of ancestor N (1 = parent); without [N], any ancestor.",
            lambda x: x.comm,
        ),
        ("proc.aexe", "argv[0] of ancestor N; without [N], any ancestor.", lambda x: x.exe),
        (
            "proc.aexepath",
            "Executable path of ancestor N; without [N], any ancestor.",
            lambda x: x.exepath,
        ),
        ("proc.acmdline", "Command line of ancestor N; without [N], any ancestor.", cmdline),
        (
            "proc.aargs",
            "Arguments of ancestor N; without [N], any ancestor.",
            lambda x: " ".join(x.args),
        ),
    ):
        yield FieldDef(name, "string", doc, _ancestral(read), ArgKind.OPTIONAL)
    yield FieldDef(
        "proc.apid",
        "int64",
        "Pid of ancestor N; without [N], any ancestor.",
        _ancestral(lambda x: x.pid),
        ArgKind.OPTIONAL,
    )
    yield FieldDef(
        "proc.loginshellid",
        "int64",
        "Pid of the eldest shell among the process and its ancestors.",
        _loginshellid,
    )
    yield FieldDef("proc.duration", "reltime", "ns since the process started.", _duration)
    yield t(
        "proc.pid.ts",
        "reltime",
        "Process start time, ns since the epoch.",
        lambda x: x.start_ts or MISSING,
    )
    yield FieldDef(
        "proc.ppid.ts",
        "reltime",
        "Parent start time, ns since the epoch.",
        _parent(lambda p: p.start_ts or MISSING),
    )
    yield t(
        "proc.is_exe_writable",
        "bool",
        "The executable is writable by the user running it.",
        lambda x: x.exe_writable,
    )
    yield t(
        "proc.is_exe_upper_layer",
        "bool",
        "The executable lives in an overlay's upper layer (written in the container).",
        lambda x: x.exe_upper_layer,
    )
    yield t(
        "proc.is_exe_from_memfd",
        "bool",
        "The program was executed from a memfd_create() file.",
        lambda x: x.exe_from_memfd,
    )
    yield t("proc.exe_ino", "int64", "Inode number of the executable.", unknown)
    yield t("proc.exe_ino.ctime", "abstime", "Executable's inode change time (ns).", unknown)
    yield t("proc.exe_ino.mtime", "abstime", "Executable's modification time (ns).", unknown)
    yield t(
        "proc.exe_ino.ctime_duration_proc_start",
        "abstime",
        "ns from the executable's ctime to the process start.",
        unknown,
    )
    yield t(
        "proc.exe_ino.ctime_duration_pidns_start",
        "abstime",
        "ns from the pid namespace start to the executable's ctime.",
        unknown,
    )
    for kind in ("healthcheck", "liveness_probe", "readiness_probe"):
        yield t(
            f"proc.is_container_{kind}",
            "bool",
            f"The process is the container's {kind.replace('_', ' ')} (not tracked: false).",
            lambda x: False,
        )
    yield t(
        "proc.fdopencount", "uint64", "File descriptors the process has open.", lambda x: len(x.fds)
    )
    for fd, stream in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        yield FieldDef(f"proc.{stream}.type", "string", f"fd.type of {stream}.", _stdio(fd, "type"))
        yield FieldDef(f"proc.{stream}.name", "string", f"fd.name of {stream}.", _stdio(fd, "name"))
    yield t("thread.tid", "int64", "Thread id (host pid namespace).", lambda x: x.tid)
    yield t(
        "thread.vtid", "int64", "Thread id inside its pid namespace.", lambda x: or_missing(x.vtid)
    )
    yield t(
        "thread.ismain",
        "bool",
        "The thread is its process's main thread.",
        lambda x: x.tid == x.pid,
    )
    yield t(
        "thread.cap_permitted",
        "string",
        "Permitted capabilities, by name.",
        lambda x: caps_text(x.cap_permitted),
    )
    yield t(
        "thread.cap_effective",
        "string",
        "Effective capabilities, by name.",
        lambda x: caps_text(x.cap_effective),
    )
    yield t(
        "thread.cap_inheritable",
        "string",
        "Inheritable capabilities, by name.",
        lambda x: caps_text(x.cap_inheritable),
    )
    yield t(
        "thread.cgroups",
        "string",
        "Every cgroup of the thread as controller=path, space-joined.",
        lambda x: " ".join(f"{c}={p}" for c, p in x.cgroups),
    )
    yield FieldDef(
        "thread.cgroup",
        "string",
        "The cgroup of one controller: thread.cgroup.cpuacct.",
        _cgroup,
        ArgKind.REQUIRED,
        dotted=True,
    )


FIELDS: tuple[FieldDef, ...] = tuple(_thread_fields())
