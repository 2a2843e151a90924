"""Falco's text forms (evt.arg.X, evt.args, evt.res) of hand-built events, with or without state."""

from __future__ import annotations

import errno
import ipaddress
import signal

from bastion.sensor.capture.scap_events import EVENTS as SCAP_EVENTS
from bastion.sensor.capture.scap_events import ScapEventInfo, latest
from bastion.sensor.events import flags
from bastion.sensor.events.model import Direction, Event, ParamSpec, ParamType, SockTuple
from bastion.sensor.events.render import Resolver, args_text, param_parts, param_text, res_text
from bastion.sensor.events.schema import BY_NAME, EVENTS
from bastion.sensor.state.model import Fd, FdType, Thread

T = ParamType


def info(name: str, direction: str = Direction.EXIT) -> ScapEventInfo:
    found = latest(name, direction)
    assert found is not None
    return found


def event(name: str, params: dict[str, object], *, res: int | None = None) -> Event:
    found = info(name)
    return Event(
        num=1,
        ts=0,
        cpu=0,
        tid=100,
        pid=100,
        type=name,
        dir=found.dir,
        category=found.category,
        params=params,
        specs=found.specs,
        res=res,
    )


def file_flags(*names: str) -> int:
    table = dict(flags.TABLES["file_flags"])
    value = 0
    for name in names:
        value |= table[name]
    return value


def with_state(ev: Event, cwd: str = "/home/u", fds: dict[int, Fd] | None = None) -> Event:
    ev.thread = Thread(tid=100, pid=100, comm="cat", cwd=cwd, fds=fds or {})
    return ev


def test_open_exit_with_and_without_state() -> None:
    flags_value = file_flags("O_RDONLY", "O_CLOEXEC")
    params: dict[str, object] = {"fd": 3, "dirfd": -100, "name": "/etc/passwd"}
    params |= {"flags": flags_value, "mode": 0, "dev": 0x803, "ino": 12}
    ev = event("openat", params)
    assert param_text(ev, "fd") == "3"  # no fd table: the number alone
    assert param_text(ev, "dirfd") == "AT_FDCWD"
    assert param_text(ev, "flags") == "O_RDONLY|O_CLOEXEC"
    assert param_parts(ev, "flags") == (str(flags_value), "O_RDONLY|O_CLOEXEC")
    assert param_text(ev, "resolve") is None  # not a parameter of this event
    with_state(ev, fds={3: Fd(num=3, type=FdType.FILE, name="/etc/passwd")})
    assert param_text(ev, "fd") == "<f>/etc/passwd"  # evt.arg.fd is the resolved text
    assert args_text(ev) == (
        f"fd=3(<f>/etc/passwd) dirfd=-100(AT_FDCWD) name=/etc/passwd "
        f"flags={flags_value}(O_RDONLY|O_CLOEXEC) mode=0 dev=803 ino=12"
    )


def test_failed_calls_render_the_errno() -> None:
    ev = event("open", {"fd": -errno.ENOENT, "name": "x"}, res=-errno.ENOENT)
    assert param_parts(ev, "fd") == (str(-errno.ENOENT), "ENOENT")
    assert res_text(ev) == "ENOENT"
    ok = event("close", {"res": 0, "fd": 4}, res=0)
    assert res_text(ok) == "SUCCESS"
    assert param_text(ok, "res") == "0"
    strange = event("close", {"res": -4000}, res=-4000)
    assert res_text(strange) == "-4000"  # not an errno Falco names
    enter = event("close", {"fd": 4})
    assert res_text(enter) is None


def test_relative_paths_resolve_against_cwd_and_dirfd() -> None:
    ev = with_state(event("open", {"fd": 3, "name": "docs/../a.txt"}), cwd="/srv")
    assert param_parts(ev, "name") == ("docs/../a.txt", "/srv/a.txt")
    dirfd = Fd(num=7, type=FdType.DIRECTORY, name="/var/lib")
    ev = with_state(event("openat", {"fd": 3, "dirfd": 7, "name": "db"}), fds={7: dirfd})
    assert param_parts(ev, "name") == ("db", "/var/lib/db")
    absolute = with_state(event("open", {"fd": 3, "name": "/abs"}))
    assert param_parts(absolute, "name") == ("/abs", "")


def test_live_relative_paths_resolve_against_their_dirfd() -> None:
    """A live *at event names its dirfd in the table (libs' DIRFD_PARAM), so evt.arg resolves
    the path against that directory as for a .scap event, not against the cwd."""
    spec = BY_NAME["fchmodat"]
    ev = Event(
        num=1,
        ts=0,
        cpu=0,
        tid=100,
        pid=100,
        type="fchmodat",
        dir=Direction.EXIT,
        category=spec.category,
        params={"res": 0, "dirfd": 7, "filename": "f", "mode": 0o644},
        specs=spec.specs,
    )
    dirfd = Fd(num=7, type=FdType.DIRECTORY, name="/var/lib")
    assert param_parts(with_state(ev, cwd="/srv", fds={7: dirfd}), "filename") == (
        "f",
        "/var/lib/f",
    )


def test_every_relative_path_names_its_dirfd() -> None:
    for table in (
        [(e.name, e.params) for e in EVENTS],
        [(i.name, i.params) for i in SCAP_EVENTS.values()],
    ):
        for name, params in table:
            for param in params:
                if param.type == T.FSRELPATH and param.dirfd is not None:
                    assert params[param.dirfd].type == T.FD, (name, param.name)
    assert all(p.dirfd is not None for e in EVENTS for p in e.params if p.type == T.FSRELPATH)


def test_socket_fds_carry_the_protocol_letter() -> None:
    sock = Fd(num=5, type=FdType.IPV4, name="1.2.3.4:5->6.7.8.9:80", l4proto="tcp")
    ev = with_state(event("close", {"res": 0, "fd": 5}))
    ev.fd = sock  # a closed fd is gone from the table but still on the event
    assert param_text(ev, "fd") == "<4t>1.2.3.4:5->6.7.8.9:80"


def test_numbers_follow_libsinsp_printf_formats() -> None:
    ev = event("open", {"fd": 3, "name": "/x", "flags": 0, "mode": 0o644, "dev": 0xFD01})
    assert param_text(ev, "mode") == "0644"  # %#o
    assert param_text(ev, "dev") == "FD01"  # %X
    assert param_text(ev, "flags") == "O_NONE"
    zero = event("open", {"fd": 3, "mode": 0})
    assert param_text(zero, "mode") == "0"
    big = event("read", {"res": 1, "size": 0xFFFFFFFF})
    assert param_text(big, "size") == "-1"  # a UINT32 printed with %d
    brk = event("brk", {"res": 0x7F0000000000})
    assert param_text(brk, "res") == "7F0000000000"


def test_live_probe_specs_borrow_libscap_print_formats() -> None:
    """schema.py's specs have no print format: rendering takes libscap's for the same name."""
    spec = BY_NAME["open"]
    ev = Event(
        num=1,
        ts=0,
        cpu=0,
        tid=1,
        pid=1,
        type="open",
        dir=Direction.EXIT,
        category=spec.category,
        params={"fd": 3, "name": "/x", "flags": file_flags("O_WRONLY"), "mode": 0o600},
        specs=spec.specs,
    )
    assert param_text(ev, "mode") == "0600"
    assert param_text(ev, "flags") == "O_WRONLY"


def test_buffers_and_argument_lists() -> None:
    ev = event("write", {"res": 6, "data": b"hi\n\x00\xffok", "fd": 1, "size": 7})
    assert param_text(ev, "data") == "hi...ok"
    long = event("write", {"res": 200, "data": b"a" * 200, "fd": 1, "size": 200})
    assert args_text(long, max_buffer=80) == f"res=200 data={'a' * 77}... fd=1 size=200"
    execve = event("execve", {"res": 0, "exe": "ls", "args": ("-l", "/tmp"), "env": ()})
    assert param_text(execve, "args") == "-l./tmp."
    assert param_text(execve, "env") == ""


def test_missing_parameters_print_as_libsinsp_prints_nothing() -> None:
    ev = event("connect", {"res": 0, "fd": 3})  # tuple and addr were empty in the event
    assert args_text(ev) == "res=0 tuple=NULL fd=3 addr=<NA>"


def test_tuples_signals_and_ids() -> None:
    mapped = SockTuple(
        "inet6",
        ipaddress.IPv6Address("::ffff:10.0.0.1"),
        1000,
        ipaddress.IPv6Address("::ffff:10.0.0.2"),
        53,
    )
    ev = event("connect", {"res": 0, "tuple": mapped})
    assert param_text(ev, "tuple") == "10.0.0.1:1000->10.0.0.2:53"
    plain6 = SockTuple(
        "inet6", ipaddress.IPv6Address("::1"), 1, ipaddress.IPv6Address("2001:db8::3"), 2
    )
    assert param_text(event("connect", {"tuple": plain6}), "tuple") == "::1:1->2001:db8::3:2"
    unix = SockTuple("unix", dest_path="/run/x.sock")
    assert param_text(event("connect", {"tuple": unix}), "tuple") == "->/run/x.sock"
    kill = event("kill", {"res": 0, "pid": 42, "sig": signal.SIGTERM})
    assert param_parts(kill, "sig") == (str(int(signal.SIGTERM)), "SIGTERM")
    assert param_parts(kill, "pid") == ("42", "")
    names = Resolver(thread_comm=lambda pid: "nginx" if pid == 42 else None)
    assert param_text(kill, "pid", names) == "nginx"


def test_user_ids_use_the_resolver_and_minus_one() -> None:
    setuid = event("setuid", {"res": 0, "uid": 0})
    assert param_parts(setuid, "uid") == ("0", "")
    users = Resolver(user_name=lambda uid: {0: "root"}.get(uid))
    assert param_text(setuid, "uid", users) == "root"
    unset = event("setuid", {"res": 0, "uid": 0xFFFFFFFF})
    assert param_parts(unset, "uid") == ("-1", "<NONE>")


def test_generic_syscall_events_print_no_arguments() -> None:
    generic = Event(
        num=1,
        ts=0,
        cpu=0,
        tid=1,
        pid=1,
        type="mprotect",
        dir=Direction.EXIT,
        category="other",
        params={"ID": 75, "nativeID": 10},
        specs={"ID": ParamSpec("ID", T.SYSCALLID), "nativeID": ParamSpec("nativeID", T.UINT16)},
    )
    assert args_text(generic) == ""


def test_clone_flags_from_the_live_probe_render_like_falco() -> None:
    """The live decoder converts kernel numbers once; rendering then needs nothing else."""
    clone_thread = 0x10000 | 0x100 | 0x800  # CLONE_THREAD|CLONE_VM|CLONE_SIGHAND (sched.h)
    value = flags.from_kernel("clone_flags", clone_thread)
    ev = event("clone", {"res": 0, "flags": value})
    assert set((param_text(ev, "flags") or "").split("|")) == {
        "CLONE_THREAD",
        "CLONE_VM",
        "CLONE_SIGHAND",
    }
