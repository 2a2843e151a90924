"""``fd.*``: the file descriptor the event acts on (libsinsp ``sinsp_filtercheck_fd.cpp``).

The state sets ``event.fd`` before rules run, and only on events libscap flags as using,
creating or destroying an fd (`bastion.sensor.state.fd_use`); on any other event every fd field
is unreadable. An fd event whose fd is not in the table keeps its number (``fd.num``) and a
name libsinsp derives from the event (``extract_fdname_from_event``): the absolute path a
failed open-like call tried (``fd.nameraw`` the path as passed, ``fd.directory`` its
directory), the tuple of a connect/accept, "" otherwise; its other fields are unreadable.

Socket fields: the client is the side that connected, the server the side that accepted;
"local" is the server side when the fd is a server socket, else the client side. The
``fd.*net``/``fd.ip``/``fd.port`` fields are filter-only in Falco and hold both ends when they
say "either" (as `AnyOf`).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from bastion.sensor.events.model import Direction
from bastion.sensor.fields import paths
from bastion.sensor.fields.model import AnyOf, FieldDef, InlineFor, StateView, simple_field
from bastion.sensor.rules.compiler import Inline
from bastion.sensor.rules.ops import MISSING
from bastion.sensor.state.fd_use import acts_on_fd
from bastion.sensor.state.model import FdType

if TYPE_CHECKING:
    from bastion.sensor.events.model import Event
    from bastion.sensor.state.model import Fd

Read = Callable[["Fd"], object]

_INET = (FdType.IPV4, FdType.IPV6)
_NAMED_FILE = (FdType.FILE, FdType.DIRECTORY)
# open-like events whose failed call still names a file (libsinsp extract_from_null_fd)
_NULL_FD_PATHS: dict[str, tuple[str | None, str]] = {
    name: paths.PATH_PARAMS[name] for name in ("open", "openat", "openat2", "creat")
}
TUPLE_EVENTS = frozenset({"connect", "accept", "accept4"})


def _has_fd(evt: Event) -> bool:
    """libsinsp's ``extract_fd`` gate: ``fd.*`` fields exist only on events flagged as using,
    creating or destroying an fd, and only for a known thread. (The getters an open meets in
    most rules, fd.name, fd.num, fd.typechar and fd.directory, test the same written out:
    a call less each.)"""
    return evt.thread is not None and acts_on_fd(evt.type, evt.dir)


def _null_fd_path(evt: Event) -> str | None:
    where = _NULL_FD_PATHS.get(evt.type)
    return None if where is None else paths.resolve(evt, where)


def _null_fd_name(evt: Event) -> str | None:
    """``fd.name`` of an fd event whose fd is not in the table (``extract_fdname_from_event``):
    the path an open-like exit tried, the tuple of a connect/accept exit, "" for any other
    exit, unreadable (None) for an enter event."""
    if evt.dir != Direction.EXIT:
        return None
    if evt.type in _NULL_FD_PATHS:
        return _null_fd_path(evt)
    if evt.type in TUPLE_EVENTS:
        tup = evt.params.get("tuple")
        return str(tup) if tup is not None else ""
    return ""


def _on_fd(read: Read) -> Callable[[Event], object]:
    def get(evt: Event) -> object:
        fd = evt.fd
        return MISSING if fd is None or not _has_fd(evt) else read(fd)

    return get


def _name(evt: Event) -> object:
    if evt.thread is None or not acts_on_fd(evt.type, evt.dir):  # _has_fd
        return MISSING
    fd = evt.fd
    if fd is not None:
        return fd.name  # "" for a socket not yet bound or connected, as libsinsp prints it
    name = _null_fd_name(evt)
    return MISSING if name is None else name


def _num(evt: Event) -> object:
    """``fd.num`` is libsinsp's ``m_lastevent_fd``: the number even when the fd is unknown,
    -1 for a call that creates an fd but has not (its enter event, or a failed call)."""
    if evt.thread is None or not acts_on_fd(evt.type, evt.dir):  # _has_fd
        return MISSING
    if evt.fd is not None:
        return evt.fd.num
    thread = evt.thread
    return thread.lastevent_fd if thread is not None else MISSING


# libsinsp's guess for an fd event whose fd is not in the table (sinsp_evt::extract_typechar):
# by the kind of fd the call would make, "o" otherwise (sockets are guessed IPv4)
_TYPECHAR_BY_EVENT = {
    "openat": "f",
    "openat2": "f",
    "creat": "f",
    "socket": "4",
    "accept": "4",
    "accept4": "4",
    "pipe": "p",
    "pipe2": "p",
    "eventfd": "e",
    "eventfd2": "e",
    "signalfd": "s",
    "signalfd4": "s",
    "timerfd_create": "t",
    "inotify_init": "i",
    "inotify_init1": "i",
}


def _typechar(evt: Event) -> object:
    if evt.thread is None or not acts_on_fd(evt.type, evt.dir):  # _has_fd
        return MISSING
    if evt.fd is not None:
        return FdType.TYPECHAR.get(evt.fd.type, "o")
    return _TYPECHAR_BY_EVENT.get(evt.type, "o")


def _path(evt: Event) -> str | None:
    """The path of a file or directory fd (or of a failed open), else None."""
    if not _has_fd(evt):
        return None
    fd = evt.fd
    if fd is None:
        return _null_fd_path(evt)
    if fd.type in _NAMED_FILE and fd.name:
        return fd.name
    return None


def _directory(evt: Event) -> object:
    fd = evt.fd
    if fd is not None and fd.type == FdType.FILE and fd.name and _has_fd(evt):
        return _dirname(fd.name)  # the common case of `_path` below, a call less
    path = _path(evt)
    if path is None:
        # libsinsp derives the directory of an unknown fd from the same name fd.name falls
        # back to: "" for most exits, whose directory it takes to be "/"
        if evt.fd is None and _has_fd(evt) and _null_fd_name(evt) == "":
            return "/"
        return MISSING
    fd = evt.fd
    if fd is not None and fd.type == FdType.DIRECTORY:
        return path
    return _dirname(path)


_DIRNAMES: dict[str, str] = {}


def _dirname(path: str) -> str:
    """``posixpath.dirname(path) or "/"``, kept per path: a flood of opens names the same few
    paths, and the split cost more than every other fd field together."""
    cached = _DIRNAMES.get(path)
    if cached is None:
        if len(_DIRNAMES) >= 4096:
            _DIRNAMES.clear()
        cached = _DIRNAMES[path] = posixpath.dirname(path) or "/"
    return cached


def _filename(evt: Event) -> object:
    # unlike fd.name/fd.directory, libsinsp gives no file name without an fd in the table
    fd = evt.fd
    path = _path(evt) if fd is not None else None
    if path is None or fd is None or fd.type == FdType.DIRECTORY:
        return MISSING
    return posixpath.basename(path)


def _nameraw(evt: Event) -> object:
    where = paths.PATH_PARAMS.get(evt.type)
    raw = evt.params.get(where[1]) if where is not None else None
    if isinstance(raw, str) and raw:
        return raw
    fd = evt.fd
    return MISSING if fd is None or not fd.name else fd.name


def _inet(read: Read) -> Callable[[Event], object]:
    """A socket field: unreadable on events without an IP socket, or when unknown."""

    def get(evt: Event) -> object:
        fd = evt.fd
        if fd is None or fd.type not in _INET or not _has_fd(evt):
            return MISSING
        value = read(fd)
        return MISSING if value is None else value

    return get


def _local_ip(fd: Fd) -> object:
    return fd.server if fd.is_server else fd.client


def _remote_ip(fd: Fd) -> object:
    return fd.client if fd.is_server else fd.server


def _local_port(fd: Fd) -> object:
    return fd.sport if fd.is_server else fd.cport


def _remote_port(fd: Fd) -> object:
    return fd.cport if fd.is_server else fd.sport


def _both(a: Read, b: Read) -> Read:
    def read(fd: Fd) -> object:
        values = AnyOf(v for v in (a(fd), b(fd)) if v is not None)
        return values if values else None

    return read


def _sockfamily(fd: Fd) -> object:
    if fd.type in _INET:
        return "ip"
    return "unix" if fd.type == FdType.UNIX else MISSING


def _l4proto(fd: Fd) -> object:
    if fd.type in _INET:
        return fd.l4proto or MISSING
    return MISSING


def _connected(fd: Fd) -> object:
    # The Fd record has no "connected" flag yet: an IP socket with both ends known is one.
    if fd.type in _INET:
        return fd.client is not None and fd.server is not None and bool(fd.sport)
    return fd.type == FdType.UNIX and bool(fd.name)


# --- inline forms (rules/codegen.py): the common case of a getter, on events of one type and
# direction that act on an fd, its known fd and thread; anything else goes to the getter

_FD_HELD = "(_w_fd := evt.fd) is not None and evt.thread is not None"


def _inline(
    common: str, getter: Callable[[Event], object], when: str = "", **names: object
) -> InlineFor:
    """`common` (an expression on the event's fd ``_w_fd``) when the event holds a known fd
    (and `when` holds), the getter otherwise; MISSING on events that act on no fd (every
    getter given here starts so)."""
    name = f"_fdx_{getter.__name__.strip('_')}"
    text = f"{common} if {_FD_HELD}{when} else {name}(evt)"
    bound = {name: getter, **names}

    def inline(state: StateView, event_type: str, direction: str) -> Inline:
        del state
        if not acts_on_fd(event_type, direction):
            return Inline(constant=True, value=MISSING)
        return Inline(text, bound)

    return inline


def _nameraw_inline(state: StateView, event_type: str, direction: str) -> Inline | None:
    """`_nameraw`'s inline form: the path parameter of the event type when it is a non-empty
    string, the getter otherwise."""
    del state, direction
    where = paths.PATH_PARAMS.get(event_type)
    if where is None:
        return None
    param = repr(where[1])
    return Inline(
        f"_w_r if type(_w_r := evt.params.get({param})) is str and _w_r else _fdx_nameraw(evt)",
        {"_fdx_nameraw": _nameraw},
    )


def _fields() -> Iterator[FieldDef]:
    f = simple_field

    yield f(
        "fd.num",
        "int64",
        "The file descriptor number the event uses.",
        _num,
        _inline("_w_fd.num", _num),
    )
    yield f(
        "fd.type",
        "string",
        "FD kind: file, directory, ipv4, ipv6, unix, pipe...",
        _on_fd(lambda d: d.type),
    )
    yield f(
        "fd.typechar",
        "string",
        "FD kind as one letter (f, d, 4, 6, u, p...).",
        _typechar,
        _inline('_fdx_typechars.get(_w_fd.type, "o")', _typechar, _fdx_typechars=FdType.TYPECHAR),
    )
    yield f(
        "fd.name",
        "string",
        "Full name: a path, or a connection tuple for sockets.",
        _name,
        _inline("_w_fd.name", _name),
    )
    yield f(
        "fd.directory",
        "string",
        "Directory of a file fd (the directory itself for one).",
        _directory,
        _inline(
            "_fdx_dirname(_w_fd.name)",
            _directory,
            " and _w_fd.type == _fdx_file and _w_fd.name",
            _fdx_dirname=_dirname,
            _fdx_file=FdType.FILE,
        ),
    )
    yield f("fd.filename", "string", "Base name of a file fd.", _filename)
    yield f(
        "fd.nameraw",
        "string",
        "The path as the caller passed it, unresolved.",
        _nameraw,
        _nameraw_inline,
    )
    yield f("fd.cip", "ipaddr", "Client IP address.", _inet(lambda d: d.client))
    yield f("fd.sip", "ipaddr", "Server IP address.", _inet(lambda d: d.server))
    yield f("fd.lip", "ipaddr", "Local IP address.", _inet(_local_ip))
    yield f("fd.rip", "ipaddr", "Remote IP address.", _inet(_remote_ip))
    yield f("fd.cport", "port", "Client port.", _inet(lambda d: d.cport))
    yield f("fd.sport", "port", "Server port.", _inet(lambda d: d.sport))
    yield f("fd.lport", "port", "Local port.", _inet(_local_port))
    yield f("fd.rport", "port", "Remote port.", _inet(_remote_port))
    yield f(
        "fd.ip",
        "ipaddr",
        "Filter-only: either end's IP address.",
        _inet(_both(lambda d: d.client, lambda d: d.server)),
    )
    yield f(
        "fd.port",
        "port",
        "Filter-only: either end's port.",
        _inet(_both(lambda d: d.cport, lambda d: d.sport)),
    )
    yield f(
        "fd.net",
        "ipnet",
        "Filter-only: either end's IP, compared against a network.",
        _inet(_both(lambda d: d.client, lambda d: d.server)),
    )
    yield f(
        "fd.cnet",
        "ipnet",
        "Filter-only: the client IP against a network.",
        _inet(lambda d: d.client),
    )
    yield f(
        "fd.snet",
        "ipnet",
        "Filter-only: the server IP against a network.",
        _inet(lambda d: d.server),
    )
    yield f("fd.lnet", "ipnet", "Filter-only: the local IP against a network.", _inet(_local_ip))
    yield f("fd.rnet", "ipnet", "Filter-only: the remote IP against a network.", _inet(_remote_ip))
    yield f("fd.l4proto", "string", "Socket L4 protocol: tcp, udp, icmp or raw.", _on_fd(_l4proto))
    yield f("fd.sockfamily", "string", "Socket family: ip or unix.", _on_fd(_sockfamily))
    yield f(
        "fd.is_server",
        "bool",
        "The process is the server end of the socket.",
        _on_fd(lambda d: d.is_server),
    )
    yield f("fd.connected", "bool", "The socket is connected.", _on_fd(_connected))
    yield f(
        "fd.name_changed",
        "bool",
        "The event changed the fd's name (not tracked yet: false).",
        _on_fd(lambda d: False),
    )
    for end in ("cip", "sip", "lip", "rip"):
        yield f(
            f"fd.{end}.name",
            "string",
            f"DNS name seen for fd.{end} (no DNS tracking: unreadable).",
            lambda e: MISSING,
        )
    yield f("fd.dev", "int32", "Device number of the file.", _on_fd(lambda d: d.dev))
    yield f(
        "fd.dev.major", "int32", "Major device number of the file.", _on_fd(lambda d: d.dev >> 20)
    )
    yield f(
        "fd.dev.minor",
        "int32",
        "Minor device number of the file.",
        _on_fd(lambda d: d.dev & 0xFFFFF),
    )
    yield f("fd.ino", "int64", "Inode number of the file.", _on_fd(lambda d: d.ino))
    yield f(
        "fd.is_upper_layer",
        "bool",
        "The file lives in an overlay's upper layer.",
        _on_fd(lambda d: d.is_upper_layer),
    )
    yield f(
        "fd.uid",
        "string",
        "Unique fd id: the fd number and the thread id.",
        lambda e: MISSING if e.fd is None or not _has_fd(e) else f"{e.fd.num}{e.tid}",
    )


FIELDS: tuple[FieldDef, ...] = tuple(_fields())
