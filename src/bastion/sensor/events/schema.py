"""bastion's event table: the single source of truth for what the live probe emits.

One row per event, as libs' `driver/event_table.c` has it. Each `EventSpec` gives the event's
wire code (the ``type`` field of a probe record, mirrored as ``BST_EVT_<NAME>`` in
``probe/bastion_events.h``; a test checks they agree), Falco's event name, its category, its
flags (`EventFlag`: which fd it uses, creates or destroys), the key of the state handler that
parses it, and its parameters (Falco's names and types, in Falco's order for the exit event,
with the enter-side arguments merged in as Falco's modern probe does; each says how the probe
writes it). The probe emits exit events only; `syscalls` names the x86_64 syscalls whose exit
produces the event (empty for scheduler events). Derived from this table: the probe's header
(codes, parameter counts, writer sequences, dispatcher cases), its interesting-syscall array,
the decoder, the state's dispatch (with libscap's table), and the docs (`bastion events
--list`, docs/events.md). Adding an event is adding a row; codes are append-only.

Where bastion differs from libscap on purpose (tests/unit/sensor/test_scap_decode.py keeps the
list): `execve`/`execveat` also carry `euid`/`egid` (the state's user.uid is the effective uid,
which libscap only learns from /proc); `execveat`'s exit keeps the enter side's `dirfd`/
`pathname` (merged, as for every event here); `pivot_root` is its own event, where Falco sees
only a generic syscall.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bastion.sensor.events.model import Category, ParamSpec, ParamType
from bastion.sensor.events.model import EventFlag as F

T = ParamType


@dataclass(frozen=True, slots=True)
class LiveParamSpec(ParamSpec):
    """A live event's parameter plus how the probe writes it: `write` is a writer token (see
    `bastion.sensor.probe.header`: ``ret``, ``int(0)``, ``str(1)``, ``u32(2)``... or a C call),
    or ``+`` when the C call of an earlier parameter writes this one too. The probe's writer
    sequence for each event is generated from these (`python -m bastion.sensor.probe.header`),
    so the order the C writes in cannot drift from the table."""

    write: str = ""


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One event the probe can emit (always an exit event): one row of the table.

    `flags` is an `EventFlag` combination and `handler` the key of the state handler that
    parses the event (None: it changes no table), as in `capture.scap_events`' rows.
    `loss_class` says what goes first under load (`LOSS_CLASSES`): "critical" events travel
    in the probe's second ring and are the last the spill area gives up."""

    code: int
    name: str
    category: str
    params: tuple[LiveParamSpec, ...]
    syscalls: tuple[str, ...] = ()
    default: bool = True  # captured unless the user turns it off (read/write are opt-in)
    flags: int = 0
    handler: str | None = None
    loss_class: str = "bulk"
    specs: dict[str, ParamSpec] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.specs.update((p.name, p) for p in self.params)

    def param_index(self, name: str) -> int:
        for i, p in enumerate(self.params):
            if p.name == name:
                return i
        raise KeyError(name)


def _p(
    name: str, type: str, flags: str | None = None, *, w: str, at: int | None = None
) -> LiveParamSpec:
    """A parameter; `at` is a relative path's dirfd parameter index (libs' DIRFD_PARAM)."""
    return LiveParamSpec(name, type, flags, at, write=w)


RES = _p("res", T.ERRNO, w="ret")
RES_FD = _p("res", T.FD, w="ret")  # dup family: the new fd, under Falco's name "res"
FD_RES = _p("fd", T.FD, w="ret")
DEV_INO = (  # of the file behind a new fd
    _p("dev", T.UINT32, w="p_dev_ino(rp, ret)"),
    _p("ino", T.UINT64, w="+"),
)


def _exec_common(argv: int, envp: int) -> tuple[LiveParamSpec, ...]:
    """An execve/execveat exit's parameters from res to trusted_exepath: one C call writes all
    but res (`argv`/`envp`: the argument indexes of the caller's arrays, read when it failed)."""
    return (
        RES,
        _p("exe", T.CHARBUF, w=f"p_exec_common(rp, ret, a->a[{argv}], a->a[{envp}])"),
        _p("args", T.CHARBUFARRAY, w="+"),
        _p("tid", T.PID, w="+"),
        _p("pid", T.PID, w="+"),
        _p("ptid", T.PID, w="+"),
        _p("cwd", T.CHARBUF, w="+"),
        _p("comm", T.CHARBUF, w="+"),
        _p("env", T.CHARBUFARRAY, w="+"),
        _p("loginuid", T.UID, w="+"),
        _p("uid", T.UID, w="+"),
        _p("gid", T.GID, w="+"),
        _p("euid", T.UID, w="+"),
        _p("egid", T.GID, w="+"),
        _p("cap_inheritable", T.UINT64, w="+"),
        _p("cap_permitted", T.UINT64, w="+"),
        _p("cap_effective", T.UINT64, w="+"),
        _p("trusted_exepath", T.FSPATH, w="+"),
        _p("tty", T.UINT32, w="+"),
    )


CAPS = (  # the caller's capability sets after the call
    _p("cap_inheritable", T.UINT64, w="p_caps(rp)"),
    _p("cap_permitted", T.UINT64, w="+"),
    _p("cap_effective", T.UINT64, w="+"),
)
SOCKADDR_ARG = "p_ubytes(rp, a->a[1], a->a[2] > BST_SOCKADDR_MAX ? BST_SOCKADDR_MAX : a->a[2])"
PRCTL_NAME = (  # PR_SET_NAME / PR_GET_NAME pass a string; other options a number
    "(a->a[0] == BST_PR_SET_NAME || a->a[0] == BST_PR_GET_NAME) ? p_ustr(rp, a->a[1]) : p_none(rp)"
)
UF, CF, DF, UNPAIRED = F.USES_FD, F.CREATES_FD, F.DESTROYS_FD, F.UNPAIRED


@dataclass(frozen=True, slots=True)
class _Row:
    name: str
    category: str
    params: tuple[LiveParamSpec, ...]
    syscalls: tuple[str, ...]
    flags: int = 0
    handler: str | None = None
    default: bool = True


def _r(
    name: str,
    category: str,
    params: tuple[LiveParamSpec, ...],
    flags: int = 0,
    handler: str | None = None,
    *,
    syscalls: tuple[str, ...] | None = None,
    default: bool = True,
) -> _Row:
    """A row; its syscall is the event's own name unless `syscalls` says otherwise."""
    return _Row(
        name, category, params, (name,) if syscalls is None else syscalls, flags, handler, default
    )


#: Loss classes, most precious first (`EventSpec.loss_class`; bastion_record.h's BST_CLASS_*
#: are their indexes reversed: critical = 1, bulk = 0).
LOSS_CLASSES = ("critical", "bulk")
# Process lifecycle (clone, exec, exit) and what changes who a process is (ids, capabilities,
# namespaces, ptrace, kernel modules): the state tables and the rules are blind without them,
# and they are rare next to the file and I/O events a flood is made of.
_CRITICAL_CATEGORIES = frozenset({Category.PROCESS, Category.USER, Category.SYSTEM})


def _loss_class(row: _Row) -> str:
    return "critical" if row.category in _CRITICAL_CATEGORIES else "bulk"


C = Category
_ROWS: tuple[_Row, ...] = (
    # --- process ---------------------------------------------------------------------------
    _r(
        "execve",
        C.PROCESS,
        (*_exec_common(1, 2), _p("filename", T.FSPATH, w="p_exec_filename(rp, ret, a->a[0])")),
        handler="execve",
    ),
    _r(
        "execveat",
        C.PROCESS,
        (
            *_exec_common(2, 3),
            _p("dirfd", T.FD, w="int(0)"),
            _p("pathname", T.FSRELPATH, w="str(1)", at=19),
            _p("flags", T.FLAGS32, "execveat_flags", w="u32(4)"),
        ),
        handler="execve",
    ),
    _r(  # written by the sched_process_fork program, from the child's task
        "clone",
        C.PROCESS,
        (
            _p("res", T.ERRNO, w="p_s64(rp, 0)"),
            _p("exe", T.CHARBUF, w="p_mm_argv(rp)"),
            _p("args", T.CHARBUFARRAY, w="+"),
            _p("tid", T.PID, w="p_s64(rp, tid)"),
            _p("pid", T.PID, w="p_s64(rp, tgid)"),
            _p("ptid", T.PID, w="p_s64(rp, BPF_CORE_READ(child, real_parent, pid))"),
            _p("cwd", T.CHARBUF, w="p_path(rp, 0)"),
            _p("comm", T.CHARBUF, w="p_comm(rp)"),
            _p("flags", T.FLAGS32, "clone_flags", w="p_u32(rp, flags)"),
            _p("uid", T.UID, w="p_u32(rp, BPF_CORE_READ(child, cred, uid.val))"),
            _p("gid", T.GID, w="p_u32(rp, BPF_CORE_READ(child, cred, gid.val))"),
            _p("vtid", T.PID, w="p_s64(rp, bst_ns_nr(BPF_CORE_READ(child, thread_pid)))"),
            _p(
                "vpid",
                T.PID,
                w="p_s64(rp, bst_ns_nr(BPF_CORE_READ(child, group_leader, thread_pid)))",
            ),
        ),
        handler="clone",
        syscalls=(),
    ),
    _r(  # written by the sched_process_exit program, from the exit code
        "procexit",
        C.PROCESS,
        (
            _p("status", T.ERRNO, w="p_s64(rp, code)"),
            _p("ret", T.ERRNO, w="p_s64(rp, (code >> 8) & 0xff)"),
            _p("sig", T.SIGTYPE, w="p_u8(rp, code & 0x7f)"),
            _p("core", T.UINT8, w="p_u8(rp, (code & 0x80) ? 1 : 0)"),
            _p("reaper_tid", T.PID, w="p_none(rp)"),  # not computed
        ),
        UNPAIRED,
        "procexit",
        syscalls=(),
    ),
    # --- files -----------------------------------------------------------------------------
    _r(
        "open",
        C.FILE,
        (
            FD_RES,
            _p("name", T.FSPATH, w="str(0)"),
            _p("flags", T.FLAGS32, "file_flags", w="u32(1)"),
            _p("mode", T.UINT32, w="u32(2)"),
            *DEV_INO,
        ),
        CF,
        "open",
    ),
    _r(
        "openat",
        C.FILE,
        (
            FD_RES,
            _p("dirfd", T.FD, w="int(0)"),
            _p("name", T.FSRELPATH, w="str(1)", at=1),
            _p("flags", T.FLAGS32, "file_flags", w="u32(2)"),
            _p("mode", T.UINT32, w="u32(3)"),
            *DEV_INO,
        ),
        CF,
        "open",
    ),
    _r(
        "openat2",
        C.FILE,
        (
            FD_RES,
            _p("dirfd", T.FD, w="int(0)"),
            _p("name", T.FSRELPATH, w="str(1)", at=1),
            _p("flags", T.FLAGS32, "file_flags", w="p_open_how(rp, a->a[2])"),
            _p("mode", T.UINT32, w="+"),
            _p("resolve", T.FLAGS32, "openat2_flags", w="+"),
            *DEV_INO,
        ),
        CF,
        "open",
    ),
    _r(
        "creat",
        C.FILE,
        (FD_RES, _p("name", T.FSPATH, w="str(0)"), _p("mode", T.UINT32, w="u32(1)"), *DEV_INO),
        CF,
        "open",
    ),
    _r("close", C.IO_OTHER, (RES, _p("fd", T.FD, w="int(0)")), UF | DF, "close"),
    _r("dup", C.IO_OTHER, (RES_FD, _p("oldfd", T.FD, w="int(0)")), UF | CF, "dup"),
    _r(
        "dup2",
        C.IO_OTHER,
        (RES_FD, _p("oldfd", T.FD, w="int(0)"), _p("newfd", T.FD, w="int(1)")),
        UF | CF,
        "dup",
    ),
    _r(
        "dup3",
        C.IO_OTHER,
        (
            RES_FD,
            _p("oldfd", T.FD, w="int(0)"),
            _p("newfd", T.FD, w="int(1)"),
            _p("flags", T.FLAGS32, "file_flags", w="u32(2)"),
        ),
        UF | CF,
        "dup",
    ),
    _r("unlink", C.FILE, (RES, _p("path", T.FSPATH, w="str(0)"))),
    _r(
        "unlinkat",
        C.FILE,
        (
            RES,
            _p("dirfd", T.FD, w="int(0)"),
            _p("name", T.FSRELPATH, w="str(1)", at=1),
            _p("flags", T.FLAGS32, "unlinkat_flags", w="u32(2)"),
        ),
        UF,
    ),
    _r(
        "rename",
        C.FILE,
        (RES, _p("oldpath", T.FSPATH, w="str(0)"), _p("newpath", T.FSPATH, w="str(1)")),
    ),
    _r(
        "renameat",
        C.FILE,
        (
            RES,
            _p("olddirfd", T.FD, w="int(0)"),
            _p("oldpath", T.FSRELPATH, w="str(1)", at=1),
            _p("newdirfd", T.FD, w="int(2)"),
            _p("newpath", T.FSRELPATH, w="str(3)", at=3),
        ),
    ),
    _r(
        "renameat2",
        C.FILE,
        (
            RES,
            _p("olddirfd", T.FD, w="int(0)"),
            _p("oldpath", T.FSRELPATH, w="str(1)", at=1),
            _p("newdirfd", T.FD, w="int(2)"),
            _p("newpath", T.FSRELPATH, w="str(3)", at=3),
            _p("flags", T.FLAGS32, "renameat2_flags", w="u32(4)"),
        ),
    ),
    _r("mkdir", C.FILE, (RES, _p("path", T.FSPATH, w="str(0)"), _p("mode", T.UINT32, w="u32(1)"))),
    _r(
        "mkdirat",
        C.FILE,
        (
            RES,
            _p("dirfd", T.FD, w="int(0)"),
            _p("path", T.FSRELPATH, w="str(1)", at=1),
            _p("mode", T.UINT32, w="u32(2)"),
        ),
        UF,
    ),
    _r("rmdir", C.FILE, (RES, _p("path", T.FSPATH, w="str(0)"))),
    _r(
        "symlink",
        C.FILE,
        (RES, _p("target", T.CHARBUF, w="str(0)"), _p("linkpath", T.FSPATH, w="str(1)")),
    ),
    _r(
        "symlinkat",
        C.FILE,
        (
            RES,
            _p("target", T.CHARBUF, w="str(0)"),
            _p("linkdirfd", T.FD, w="int(1)"),
            _p("linkpath", T.FSRELPATH, w="str(2)", at=2),
        ),
        UF,
    ),
    _r(
        "link",
        C.FILE,
        (RES, _p("oldpath", T.FSPATH, w="str(0)"), _p("newpath", T.FSPATH, w="str(1)")),
    ),
    _r(
        "linkat",
        C.FILE,
        (
            RES,
            _p("olddir", T.FD, w="int(0)"),
            _p("oldpath", T.FSRELPATH, w="str(1)", at=1),
            _p("newdir", T.FD, w="int(2)"),
            _p("newpath", T.FSRELPATH, w="str(3)", at=3),
            _p("flags", T.FLAGS32, "linkat_flags", w="u32(4)"),
        ),
    ),
    _r(
        "chmod",
        C.FILE,
        (
            RES,
            _p("filename", T.FSPATH, w="str(0)"),
            _p("mode", T.MODE, "chmod_mode", w="u32(1)"),
        ),
    ),
    _r(
        "fchmod",
        C.FILE,
        (RES, _p("fd", T.FD, w="int(0)"), _p("mode", T.MODE, "chmod_mode", w="u32(1)")),
        UF,
    ),
    _r(
        "fchmodat",
        C.FILE,
        (
            RES,
            _p("dirfd", T.FD, w="int(0)"),
            _p("filename", T.FSRELPATH, w="str(1)", at=1),
            _p("mode", T.MODE, "chmod_mode", w="u32(2)"),
        ),
        UF,
    ),
    _r(
        "chown",
        C.FILE,
        (
            RES,
            _p("path", T.FSPATH, w="str(0)"),
            _p("uid", T.UINT32, w="u32(1)"),
            _p("gid", T.UINT32, w="u32(2)"),
        ),
    ),
    _r(
        "lchown",
        C.FILE,
        (
            RES,
            _p("path", T.FSPATH, w="str(0)"),
            _p("uid", T.UINT32, w="u32(1)"),
            _p("gid", T.UINT32, w="u32(2)"),
        ),
    ),
    _r(
        "fchown",
        C.FILE,
        (
            RES,
            _p("fd", T.FD, w="int(0)"),
            _p("uid", T.UINT32, w="u32(1)"),
            _p("gid", T.UINT32, w="u32(2)"),
        ),
        UF,
    ),
    _r(
        "fchownat",
        C.FILE,
        (
            RES,
            _p("dirfd", T.FD, w="int(0)"),
            _p("pathname", T.FSRELPATH, w="str(1)", at=1),
            _p("uid", T.UINT32, w="u32(2)"),
            _p("gid", T.UINT32, w="u32(3)"),
            _p("flags", T.FLAGS32, "fchownat_flags", w="u32(4)"),
        ),
        UF,
    ),
    _r("chdir", C.FILE, (RES, _p("path", T.CHARBUF, w="str(0)")), handler="chdir"),
    _r("fchdir", C.FILE, (RES, _p("fd", T.FD, w="int(0)")), UF, "fchdir"),
    _r("chroot", C.FILE, (RES, _p("path", T.FSPATH, w="str(0)"))),
    _r(
        "pivot_root",
        C.FILE,
        (RES, _p("new_root", T.FSPATH, w="str(0)"), _p("put_old", T.FSPATH, w="str(1)")),
    ),
    _r(
        "memfd_create",
        C.FILE,
        (
            FD_RES,
            _p("name", T.CHARBUF, w="str(0)"),
            _p("flags", T.FLAGS32, "memfd_create_flags", w="u32(1)"),
        ),
        CF,
        "memfd_create",
    ),
    _r(
        "pipe",
        C.IPC,
        (
            RES,
            _p("fd1", T.FD, w="p_pipe_fds(rp, ret, a->a[0])"),
            _p("fd2", T.FD, w="+"),
            _p("ino", T.UINT64, w="+"),
        ),
        CF,
        "pipe",
    ),
    _r(
        "pipe2",
        C.IPC,
        (
            RES,
            _p("fd1", T.FD, w="p_pipe_fds(rp, ret, a->a[0])"),
            _p("fd2", T.FD, w="+"),
            _p("ino", T.UINT64, w="+"),
            _p("flags", T.FLAGS32, "file_flags", w="u32(1)"),
        ),
        CF,
        "pipe",
    ),
    # --- network ---------------------------------------------------------------------------
    _r(
        "socket",
        C.NET,
        (
            FD_RES,
            _p("domain", T.ENUMFLAGS32, "socket_families", w="u32(0)"),
            _p("type", T.UINT32, w="u32(1)"),
            _p("proto", T.UINT32, w="u32(2)"),
        ),
        CF,
        "socket",
    ),
    _r(
        "connect",
        C.NET,
        (
            RES,
            _p("tuple", T.SOCKTUPLE, w="p_tuple(rp, (int)a->a[0], 0, 0)"),
            _p("fd", T.FD, w="int(0)"),
            _p("addr", T.SOCKADDR, w=SOCKADDR_ARG),
        ),
        UF,
        "connect",
    ),
    _r(
        "accept",
        C.NET,
        (
            FD_RES,
            _p("tuple", T.SOCKTUPLE, w="p_tuple(rp, ret, 1, 0)"),
            _p("queuepct", T.UINT8, w="p_accept_queue(rp, (int)a->a[0])"),
            _p("queuelen", T.UINT32, w="+"),
            _p("queuemax", T.UINT32, w="+"),
        ),
        CF,
        "accept",
    ),
    _r(
        "accept4",
        C.NET,
        (
            FD_RES,
            _p("tuple", T.SOCKTUPLE, w="p_tuple(rp, ret, 1, 0)"),
            _p("queuepct", T.UINT8, w="p_accept_queue(rp, (int)a->a[0])"),
            _p("queuelen", T.UINT32, w="+"),
            _p("queuemax", T.UINT32, w="+"),
            _p("flags", T.INT32, w="s32(3)"),
        ),
        CF,
        "accept",
    ),
    _r(
        "bind",
        C.NET,
        (RES, _p("addr", T.SOCKADDR, w=SOCKADDR_ARG), _p("fd", T.FD, w="int(0)")),
        UF,
        "bind",
    ),
    _r(
        "listen",
        C.NET,
        (RES, _p("fd", T.FD, w="int(0)"), _p("backlog", T.INT32, w="s32(1)")),
        UF,
        "listen",
    ),
    _r(
        "sendto",
        C.IO_WRITE,
        (
            RES,
            _p("data", T.BYTEBUF, w="p_snap(rp, a->a[1], a->a[2])"),
            _p("fd", T.FD, w="int(0)"),
            _p("size", T.UINT32, w="u32(2)"),
            _p("tuple", T.SOCKTUPLE, w="p_tuple(rp, (int)a->a[0], 0, a->a[4])"),
        ),
        UF,
        "datagram",
    ),
    _r(
        "sendmsg",
        C.IO_WRITE,
        (
            RES,
            _p("data", T.BYTEBUF, w="p_sendmsg(rp, (int)a->a[0], a->a[1])"),
            _p("fd", T.FD, w="+"),
            _p("size", T.UINT32, w="+"),
            _p("tuple", T.SOCKTUPLE, w="+"),
        ),
        UF,
        "datagram",
    ),
    _r(
        "recvfrom",
        C.IO_READ,
        (
            RES,
            _p("data", T.BYTEBUF, w="p_snap(rp, a->a[1], ret)"),
            _p("tuple", T.SOCKTUPLE, w="p_tuple(rp, (int)a->a[0], 0, ret >= 0 ? a->a[4] : 0)"),
            _p("fd", T.FD, w="int(0)"),
            _p("size", T.UINT32, w="u32(2)"),
        ),
        UF,
        "datagram",
    ),
    _r(
        "recvmsg",
        C.IO_READ,
        (
            RES,
            _p("size", T.UINT32, w="p_recvmsg(rp, ret, (int)a->a[0], a->a[1])"),
            _p("data", T.BYTEBUF, w="+"),
            _p("tuple", T.SOCKTUPLE, w="+"),
            _p("fd", T.FD, w="+"),
        ),
        UF,
        "datagram",
    ),
    # --- identity, privilege, kernel --------------------------------------------------------
    _r("setuid", C.USER, (RES, _p("uid", T.UID, w="u32(0)")), handler="setuid"),
    _r("setgid", C.USER, (RES, _p("gid", T.GID, w="u32(0)")), handler="setgid"),
    _r(
        "setresuid",
        C.USER,
        (
            RES,
            _p("ruid", T.UID, w="u32(0)"),
            _p("euid", T.UID, w="u32(1)"),
            _p("suid", T.UID, w="u32(2)"),
        ),
        handler="setresuid",
    ),
    _r(
        "setresgid",
        C.USER,
        (
            RES,
            _p("rgid", T.GID, w="u32(0)"),
            _p("egid", T.GID, w="u32(1)"),
            _p("sgid", T.GID, w="u32(2)"),
        ),
        handler="setresgid",
    ),
    _r("capset", C.PROCESS, (RES, *CAPS), handler="capset"),
    _r(
        "ptrace",
        C.PROCESS,
        (
            RES,
            _p("addr", T.UINT64, w="u64(2)"),
            _p("data", T.UINT64, w="u64(3)"),
            _p("request", T.ENUMFLAGS16, "ptrace_requests", w="u16(0)"),
            _p("pid", T.PID, w="int(1)"),
        ),
    ),
    _r(
        "init_module",
        C.SYSTEM,
        (
            RES,
            _p("img", T.BYTEBUF, w="p_snap(rp, a->a[0], a->a[1])"),
            _p("length", T.UINT64, w="u64(1)"),
            _p("uargs", T.CHARBUF, w="str(2)"),
        ),
    ),
    _r(
        "finit_module",
        C.SYSTEM,
        (
            RES,
            _p("fd", T.FD, w="int(0)"),
            _p("uargs", T.CHARBUF, w="str(1)"),
            _p("flags", T.FLAGS32, "finit_module_flags", w="u32(2)"),
        ),
        UF,
    ),
    _r(
        "mount",
        C.FILE,
        (
            RES,
            _p("dev", T.CHARBUF, w="str(0)"),
            _p("dir", T.FSPATH, w="str(1)"),
            _p("type", T.CHARBUF, w="str(2)"),
            _p("flags", T.FLAGS32, "mount_flags", w="u32(3)"),
        ),
    ),
    _r(
        "umount2",
        C.FILE,
        (
            RES,
            _p("name", T.FSPATH, w="str(0)"),
            _p("flags", T.FLAGS32, "umount_flags", w="u32(1)"),
        ),
    ),
    _r("unshare", C.PROCESS, (RES, _p("flags", T.FLAGS32, "clone_flags", w="u32(0)"))),
    _r(
        "setns",
        C.PROCESS,
        (RES, _p("fd", T.FD, w="int(0)"), _p("nstype", T.FLAGS32, "clone_flags", w="u32(1)")),
        UF,
    ),
    _r("bpf", C.OTHER, (FD_RES, _p("cmd", T.INT64, w="int(0)")), CF, "bpf"),
    _r(
        "kill",
        C.SIGNAL,
        (RES, _p("pid", T.PID, w="int(0)"), _p("sig", T.SIGTYPE, w="u8(1)")),
    ),
    _r(
        "prctl",
        C.PROCESS,
        (
            RES,
            _p("option", T.ENUMFLAGS32, "prctl_options", w="u32(0)"),
            _p("arg2_str", T.CHARBUF, w=PRCTL_NAME),
            _p("arg2_int", T.INT64, w="s64(1)"),
        ),
    ),
    # --- opt-in I/O --------------------------------------------------------------------------
    _r(
        "read",
        C.IO_READ,
        (
            RES,
            _p("data", T.BYTEBUF, w="p_snap(rp, a->a[1], ret)"),
            _p("fd", T.FD, w="int(0)"),
            _p("size", T.UINT32, w="u32(2)"),
        ),
        UF,
        default=False,
    ),
    _r(
        "write",
        C.IO_WRITE,
        (
            RES,
            _p("data", T.BYTEBUF, w="p_snap(rp, a->a[1], a->a[2])"),
            _p("fd", T.FD, w="int(0)"),
            _p("size", T.UINT32, w="u32(2)"),
        ),
        UF,
        default=False,
    ),
    # --- later additions: appended, so the codes above stay stable ---------------------------
    _r(  # Linux 6.6: fchmodat with flags; Falco's chmod rules know only the three older calls
        "fchmodat2",
        C.FILE,
        (
            RES,
            _p("dirfd", T.FD, w="int(0)"),
            _p("filename", T.FSRELPATH, w="str(1)", at=1),
            _p("mode", T.MODE, "chmod_mode", w="u32(2)"),
            _p("flags", T.FLAGS32, "fchownat_flags", w="u32(3)"),  # the same two AT_* bits
        ),
        UF,
    ),
)

EVENTS: tuple[EventSpec, ...] = tuple(
    EventSpec(
        code,
        row.name,
        row.category,
        row.params,
        row.syscalls,
        default=row.default,
        flags=row.flags,
        handler=row.handler,
        loss_class=_loss_class(row),
    )
    for code, row in enumerate(_ROWS, start=1)
)
BY_CODE: dict[int, EventSpec] = {e.code: e for e in EVENTS}
BY_NAME: dict[str, EventSpec] = {e.name: e for e in EVENTS}


def by_syscall() -> dict[str, EventSpec]:
    """Each captured syscall's name to the event its exit produces."""
    return {s: e for e in EVENTS for s in e.syscalls}
