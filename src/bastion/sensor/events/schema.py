"""bastion's event table: the single source of truth for what the live probe emits.

Each `EventSpec` gives the event's wire code (the ``type`` field of a probe record, mirrored
as ``BST_EVT_<NAME>`` in ``probe/bastion_events.h``; a test checks they agree), Falco's event
name, its category, and its parameters (Falco's names and types, in Falco's order for the exit
event, with the enter-side arguments merged in as Falco's modern probe does). The probe emits
exit events only; `syscalls` names the x86_64 syscalls whose exit produces the event (empty for
scheduler events). The decoder, the docs (`bastion fields`, docs/architecture.md) and the
probe's interesting-syscall array are derived from this table.

Where bastion differs from libscap on purpose (tests/unit/sensor/test_scap_decode.py keeps the
list): `execve`/`execveat` also carry `euid`/`egid` (the state's user.uid is the effective uid,
which libscap only learns from /proc); `execveat`'s exit keeps the enter side's `dirfd`/
`pathname` (merged, as for every event here); `pivot_root` is its own event, where Falco sees
only a generic syscall.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bastion.sensor.events.model import Category, ParamSpec, ParamType

T = ParamType


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One event the probe can emit (always an exit event)."""

    code: int
    name: str
    category: str
    params: tuple[ParamSpec, ...]
    syscalls: tuple[str, ...] = ()
    default: bool = True  # captured unless the user turns it off (read/write are opt-in)
    specs: dict[str, ParamSpec] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.specs.update((p.name, p) for p in self.params)

    def param_index(self, name: str) -> int:
        for i, p in enumerate(self.params):
            if p.name == name:
                return i
        raise KeyError(name)


def _p(name: str, type: str, flags: str | None = None) -> ParamSpec:
    return ParamSpec(name, type, flags)


RES = _p("res", T.ERRNO)
RES_FD = _p("res", T.FD)  # dup family: the new fd, under Falco's name "res"
FD_RES = _p("fd", T.FD)

_EXEC_COMMON = (
    RES,
    _p("exe", T.CHARBUF),
    _p("args", T.CHARBUFARRAY),
    _p("tid", T.PID),
    _p("pid", T.PID),
    _p("ptid", T.PID),
    _p("cwd", T.CHARBUF),
    _p("comm", T.CHARBUF),
    _p("env", T.CHARBUFARRAY),
    _p("loginuid", T.UID),
    _p("uid", T.UID),
    _p("gid", T.GID),
    _p("euid", T.UID),
    _p("egid", T.GID),
    _p("cap_inheritable", T.UINT64),
    _p("cap_permitted", T.UINT64),
    _p("cap_effective", T.UINT64),
    _p("trusted_exepath", T.FSPATH),
)

_SPECS: tuple[tuple[str, str, tuple[ParamSpec, ...], tuple[str, ...]], ...] = (
    # --- process ---------------------------------------------------------------------------
    ("execve", Category.PROCESS, (*_EXEC_COMMON, _p("filename", T.FSPATH)), ("execve",)),
    (
        "execveat",
        Category.PROCESS,
        (
            *_EXEC_COMMON,
            _p("dirfd", T.FD),
            _p("pathname", T.FSRELPATH),
            _p("flags", T.FLAGS32, "execveat_flags"),
        ),
        ("execveat",),
    ),
    (
        "clone",
        Category.PROCESS,
        (
            RES,
            _p("exe", T.CHARBUF),
            _p("args", T.CHARBUFARRAY),
            _p("tid", T.PID),
            _p("pid", T.PID),
            _p("ptid", T.PID),
            _p("cwd", T.CHARBUF),
            _p("comm", T.CHARBUF),
            _p("flags", T.FLAGS32, "clone_flags"),
            _p("uid", T.UID),
            _p("gid", T.GID),
            _p("vtid", T.PID),
            _p("vpid", T.PID),
        ),
        (),
    ),
    (
        "procexit",
        Category.PROCESS,
        (
            _p("status", T.ERRNO),
            _p("ret", T.ERRNO),
            _p("sig", T.SIGTYPE),
            _p("core", T.UINT8),
            _p("reaper_tid", T.PID),
        ),
        (),
    ),
    # --- files -----------------------------------------------------------------------------
    (
        "open",
        Category.FILE,
        (
            FD_RES,
            _p("name", T.FSPATH),
            _p("flags", T.FLAGS32, "file_flags"),
            _p("mode", T.UINT32),
            _p("dev", T.UINT32),
            _p("ino", T.UINT64),
        ),
        ("open",),
    ),
    (
        "openat",
        Category.FILE,
        (
            FD_RES,
            _p("dirfd", T.FD),
            _p("name", T.FSRELPATH),
            _p("flags", T.FLAGS32, "file_flags"),
            _p("mode", T.UINT32),
            _p("dev", T.UINT32),
            _p("ino", T.UINT64),
        ),
        ("openat",),
    ),
    (
        "openat2",
        Category.FILE,
        (
            FD_RES,
            _p("dirfd", T.FD),
            _p("name", T.FSRELPATH),
            _p("flags", T.FLAGS32, "file_flags"),
            _p("mode", T.UINT32),
            _p("resolve", T.FLAGS32, "openat2_flags"),
            _p("dev", T.UINT32),
            _p("ino", T.UINT64),
        ),
        ("openat2",),
    ),
    (
        "creat",
        Category.FILE,
        (
            FD_RES,
            _p("name", T.FSPATH),
            _p("mode", T.UINT32),
            _p("dev", T.UINT32),
            _p("ino", T.UINT64),
        ),
        ("creat",),
    ),
    ("close", Category.IO_OTHER, (RES, _p("fd", T.FD)), ("close",)),
    ("dup", Category.IO_OTHER, (RES_FD, _p("oldfd", T.FD)), ("dup",)),
    ("dup2", Category.IO_OTHER, (RES_FD, _p("oldfd", T.FD), _p("newfd", T.FD)), ("dup2",)),
    (
        "dup3",
        Category.IO_OTHER,
        (RES_FD, _p("oldfd", T.FD), _p("newfd", T.FD), _p("flags", T.FLAGS32, "file_flags")),
        ("dup3",),
    ),
    ("unlink", Category.FILE, (RES, _p("path", T.FSPATH)), ("unlink",)),
    (
        "unlinkat",
        Category.FILE,
        (RES, _p("dirfd", T.FD), _p("name", T.FSRELPATH), _p("flags", T.FLAGS32, "unlinkat_flags")),
        ("unlinkat",),
    ),
    ("rename", Category.FILE, (RES, _p("oldpath", T.FSPATH), _p("newpath", T.FSPATH)), ("rename",)),
    (
        "renameat",
        Category.FILE,
        (
            RES,
            _p("olddirfd", T.FD),
            _p("oldpath", T.FSRELPATH),
            _p("newdirfd", T.FD),
            _p("newpath", T.FSRELPATH),
        ),
        ("renameat",),
    ),
    (
        "renameat2",
        Category.FILE,
        (
            RES,
            _p("olddirfd", T.FD),
            _p("oldpath", T.FSRELPATH),
            _p("newdirfd", T.FD),
            _p("newpath", T.FSRELPATH),
            _p("flags", T.FLAGS32, "renameat2_flags"),
        ),
        ("renameat2",),
    ),
    ("mkdir", Category.FILE, (RES, _p("path", T.FSPATH), _p("mode", T.UINT32)), ("mkdir",)),
    (
        "mkdirat",
        Category.FILE,
        (RES, _p("dirfd", T.FD), _p("path", T.FSRELPATH), _p("mode", T.UINT32)),
        ("mkdirat",),
    ),
    ("rmdir", Category.FILE, (RES, _p("path", T.FSPATH)), ("rmdir",)),
    (
        "symlink",
        Category.FILE,
        (RES, _p("target", T.CHARBUF), _p("linkpath", T.FSPATH)),
        ("symlink",),
    ),
    (
        "symlinkat",
        Category.FILE,
        (RES, _p("target", T.CHARBUF), _p("linkdirfd", T.FD), _p("linkpath", T.FSRELPATH)),
        ("symlinkat",),
    ),
    ("link", Category.FILE, (RES, _p("oldpath", T.FSPATH), _p("newpath", T.FSPATH)), ("link",)),
    (
        "linkat",
        Category.FILE,
        (
            RES,
            _p("olddir", T.FD),
            _p("oldpath", T.FSRELPATH),
            _p("newdir", T.FD),
            _p("newpath", T.FSRELPATH),
            _p("flags", T.FLAGS32, "linkat_flags"),
        ),
        ("linkat",),
    ),
    (
        "chmod",
        Category.FILE,
        (RES, _p("filename", T.FSPATH), _p("mode", T.MODE, "chmod_mode")),
        ("chmod",),
    ),
    ("fchmod", Category.FILE, (RES, _p("fd", T.FD), _p("mode", T.MODE, "chmod_mode")), ("fchmod",)),
    (
        "fchmodat",
        Category.FILE,
        (RES, _p("dirfd", T.FD), _p("filename", T.FSRELPATH), _p("mode", T.MODE, "chmod_mode")),
        ("fchmodat",),
    ),
    (
        "chown",
        Category.FILE,
        (RES, _p("path", T.FSPATH), _p("uid", T.UINT32), _p("gid", T.UINT32)),
        ("chown",),
    ),
    (
        "lchown",
        Category.FILE,
        (RES, _p("path", T.FSPATH), _p("uid", T.UINT32), _p("gid", T.UINT32)),
        ("lchown",),
    ),
    (
        "fchown",
        Category.FILE,
        (RES, _p("fd", T.FD), _p("uid", T.UINT32), _p("gid", T.UINT32)),
        ("fchown",),
    ),
    (
        "fchownat",
        Category.FILE,
        (
            RES,
            _p("dirfd", T.FD),
            _p("pathname", T.FSRELPATH),
            _p("uid", T.UINT32),
            _p("gid", T.UINT32),
            _p("flags", T.FLAGS32, "fchownat_flags"),
        ),
        ("fchownat",),
    ),
    ("chdir", Category.FILE, (RES, _p("path", T.CHARBUF)), ("chdir",)),
    ("fchdir", Category.FILE, (RES, _p("fd", T.FD)), ("fchdir",)),
    ("chroot", Category.FILE, (RES, _p("path", T.FSPATH)), ("chroot",)),
    (
        "pivot_root",
        Category.FILE,
        (RES, _p("new_root", T.FSPATH), _p("put_old", T.FSPATH)),
        ("pivot_root",),
    ),
    (
        "memfd_create",
        Category.FILE,
        (FD_RES, _p("name", T.CHARBUF), _p("flags", T.FLAGS32, "memfd_create_flags")),
        ("memfd_create",),
    ),
    (
        "pipe",
        Category.IPC,
        (RES, _p("fd1", T.FD), _p("fd2", T.FD), _p("ino", T.UINT64)),
        ("pipe",),
    ),
    (
        "pipe2",
        Category.IPC,
        (
            RES,
            _p("fd1", T.FD),
            _p("fd2", T.FD),
            _p("ino", T.UINT64),
            _p("flags", T.FLAGS32, "file_flags"),
        ),
        ("pipe2",),
    ),
    # --- network ---------------------------------------------------------------------------
    (
        "socket",
        Category.NET,
        (
            FD_RES,
            _p("domain", T.ENUMFLAGS32, "socket_families"),
            _p("type", T.UINT32),
            _p("proto", T.UINT32),
        ),
        ("socket",),
    ),
    (
        "connect",
        Category.NET,
        (RES, _p("tuple", T.SOCKTUPLE), _p("fd", T.FD), _p("addr", T.SOCKADDR)),
        ("connect",),
    ),
    (
        "accept",
        Category.NET,
        (
            FD_RES,
            _p("tuple", T.SOCKTUPLE),
            _p("queuepct", T.UINT8),
            _p("queuelen", T.UINT32),
            _p("queuemax", T.UINT32),
        ),
        ("accept",),
    ),
    (
        "accept4",
        Category.NET,
        (
            FD_RES,
            _p("tuple", T.SOCKTUPLE),
            _p("queuepct", T.UINT8),
            _p("queuelen", T.UINT32),
            _p("queuemax", T.UINT32),
            _p("flags", T.INT32),
        ),
        ("accept4",),
    ),
    ("bind", Category.NET, (RES, _p("addr", T.SOCKADDR), _p("fd", T.FD)), ("bind",)),
    ("listen", Category.NET, (RES, _p("fd", T.FD), _p("backlog", T.INT32)), ("listen",)),
    (
        "sendto",
        Category.IO_WRITE,
        (
            RES,
            _p("data", T.BYTEBUF),
            _p("fd", T.FD),
            _p("size", T.UINT32),
            _p("tuple", T.SOCKTUPLE),
        ),
        ("sendto",),
    ),
    (
        "sendmsg",
        Category.IO_WRITE,
        (
            RES,
            _p("data", T.BYTEBUF),
            _p("fd", T.FD),
            _p("size", T.UINT32),
            _p("tuple", T.SOCKTUPLE),
        ),
        ("sendmsg",),
    ),
    (
        "recvfrom",
        Category.IO_READ,
        (
            RES,
            _p("data", T.BYTEBUF),
            _p("tuple", T.SOCKTUPLE),
            _p("fd", T.FD),
            _p("size", T.UINT32),
        ),
        ("recvfrom",),
    ),
    (
        "recvmsg",
        Category.IO_READ,
        (
            RES,
            _p("size", T.UINT32),
            _p("data", T.BYTEBUF),
            _p("tuple", T.SOCKTUPLE),
            _p("fd", T.FD),
        ),
        ("recvmsg",),
    ),
    # --- identity, privilege, kernel --------------------------------------------------------
    ("setuid", Category.USER, (RES, _p("uid", T.UID)), ("setuid",)),
    ("setgid", Category.USER, (RES, _p("gid", T.GID)), ("setgid",)),
    (
        "setresuid",
        Category.USER,
        (RES, _p("ruid", T.UID), _p("euid", T.UID), _p("suid", T.UID)),
        ("setresuid",),
    ),
    (
        "setresgid",
        Category.USER,
        (RES, _p("rgid", T.GID), _p("egid", T.GID), _p("sgid", T.GID)),
        ("setresgid",),
    ),
    (
        "capset",
        Category.PROCESS,
        (
            RES,
            _p("cap_inheritable", T.UINT64),
            _p("cap_permitted", T.UINT64),
            _p("cap_effective", T.UINT64),
        ),
        ("capset",),
    ),
    (
        "ptrace",
        Category.PROCESS,
        (
            RES,
            _p("addr", T.UINT64),
            _p("data", T.UINT64),
            _p("request", T.ENUMFLAGS16, "ptrace_requests"),
            _p("pid", T.PID),
        ),
        ("ptrace",),
    ),
    (
        "init_module",
        Category.SYSTEM,
        (RES, _p("img", T.BYTEBUF), _p("length", T.UINT64), _p("uargs", T.CHARBUF)),
        ("init_module",),
    ),
    (
        "finit_module",
        Category.SYSTEM,
        (RES, _p("fd", T.FD), _p("uargs", T.CHARBUF), _p("flags", T.FLAGS32, "finit_module_flags")),
        ("finit_module",),
    ),
    (
        "mount",
        Category.FILE,
        (
            RES,
            _p("dev", T.CHARBUF),
            _p("dir", T.FSPATH),
            _p("type", T.CHARBUF),
            _p("flags", T.FLAGS32, "mount_flags"),
        ),
        ("mount",),
    ),
    (
        "umount2",
        Category.FILE,
        (RES, _p("name", T.FSPATH), _p("flags", T.FLAGS32, "umount_flags")),
        ("umount2",),
    ),
    ("unshare", Category.PROCESS, (RES, _p("flags", T.FLAGS32, "clone_flags")), ("unshare",)),
    (
        "setns",
        Category.PROCESS,
        (RES, _p("fd", T.FD), _p("nstype", T.FLAGS32, "clone_flags")),
        ("setns",),
    ),
    ("bpf", Category.OTHER, (FD_RES, _p("cmd", T.INT64)), ("bpf",)),
    ("kill", Category.SIGNAL, (RES, _p("pid", T.PID), _p("sig", T.SIGTYPE)), ("kill",)),
    (
        "prctl",
        Category.PROCESS,
        (
            RES,
            _p("option", T.ENUMFLAGS32, "prctl_options"),
            _p("arg2_str", T.CHARBUF),
            _p("arg2_int", T.INT64),
        ),
        ("prctl",),
    ),
    # --- opt-in I/O --------------------------------------------------------------------------
    (
        "read",
        Category.IO_READ,
        (RES, _p("data", T.BYTEBUF), _p("fd", T.FD), _p("size", T.UINT32)),
        ("read",),
    ),
    (
        "write",
        Category.IO_WRITE,
        (RES, _p("data", T.BYTEBUF), _p("fd", T.FD), _p("size", T.UINT32)),
        ("write",),
    ),
)

_OPT_IN = frozenset({"read", "write"})

EVENTS: tuple[EventSpec, ...] = tuple(
    EventSpec(code, name, category, params, syscalls, default=name not in _OPT_IN)
    for code, (name, category, params, syscalls) in enumerate(_SPECS, start=1)
)
BY_CODE: dict[int, EventSpec] = {e.code: e for e in EVENTS}
BY_NAME: dict[str, EventSpec] = {e.name: e for e in EVENTS}


def by_syscall() -> dict[str, EventSpec]:
    """Each captured syscall's name to the event its exit produces."""
    return {s: e for e in EVENTS for s in e.syscalls}
