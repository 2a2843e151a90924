"""Falco's text forms of event parameters: ``evt.arg.NAME``, ``evt.args`` and ``evt.res``.

libsinsp renders each parameter as two strings (`sinsp_evt::get_param_as_str`): the *raw* text
(``3``, ``-2``, ``4097``) and a *resolved* text that may be empty (``<f>/etc/passwd``,
``ENOENT``, ``O_RDONLY|O_CLOEXEC``). `param_parts` returns both; ``evt.arg.NAME`` is the
resolved text when there is one, else the raw text (`param_text`); ``evt.args`` joins
``name=raw`` or ``name=raw(resolved)`` with spaces (`args_text`); ``evt.res`` is ``SUCCESS`` or
the errno name of a failed call (`res_text`).

Values are Falco's encoding whatever the source (see `bastion.sensor.events.flags`). What needs
state comes from the event itself (`Event.thread` for the cwd and fd table, `Event.fd`) or from
an optional `Resolver` (user, group and process names); without them the resolved text is empty
where libsinsp would look into its tables, which `args_text` then leaves out.
"""

from __future__ import annotations

import posixpath
import time
from collections.abc import Callable
from dataclasses import dataclass

from bastion.sensor.events.flags import (
    errno_name,
    render_flags,
    render_mode,
    signal_name,
    sigset_text,
)
from bastion.sensor.events.model import (
    Event,
    ParamSpec,
    ParamType,
    SockAddr,
    SockTuple,
)
from bastion.sensor.state.model import Fd, FdType

T = ParamType

AT_FDCWD = -100
_UINT32_MAX = 0xFFFFFFFF
_L4CHAR = {"tcp": "t", "udp": "u", "icmp": "i", "raw": "r"}
_SIGNED_WIDTH = {T.UINT32: 32, T.UINT64: 64, T.INT32: 32, T.INT64: 64}
_MASKS = {
    T.INT8: 0xFF,
    T.UINT8: 0xFF,
    T.INT16: 0xFFFF,
    T.UINT16: 0xFFFF,
    T.INT32: _UINT32_MAX,
    T.UINT32: _UINT32_MAX,
}
_FLAG_TYPES = frozenset({T.FLAGS8, T.FLAGS16, T.FLAGS32})
_ENUM_TYPES = frozenset({T.ENUMFLAGS8, T.ENUMFLAGS16, T.ENUMFLAGS32})
_NUMERIC = frozenset(
    {T.INT8, T.INT16, T.INT32, T.INT64, T.UINT8, T.UINT16, T.UINT32, T.UINT64, T.DYNAMIC}
)


@dataclass(frozen=True, slots=True)
class Resolver:
    """Name lookups libsinsp does from its tables; each returns None when it does not know."""

    user_name: Callable[[int], str | None] | None = None
    group_name: Callable[[int], str | None] | None = None
    thread_comm: Callable[[int], str | None] | None = None


_NO_RESOLVER = Resolver()


def param_parts(
    event: Event, name: str, resolver: Resolver = _NO_RESOLVER
) -> tuple[str, str] | None:
    """(raw text, resolved text or "") of parameter `name`, None when the event lacks it."""
    spec = event.specs.get(name)
    if spec is None or name not in event.params:
        return None
    return _render(event, spec, event.params[name], resolver)


def param_text(event: Event, name: str, resolver: Resolver = _NO_RESOLVER) -> str | None:
    """Falco's ``evt.arg.NAME``: the resolved text when there is one, else the raw text."""
    parts = param_parts(event, name, resolver)
    if parts is None:
        return None
    raw, resolved = parts
    return resolved or raw


def args_text(
    event: Event, resolver: Resolver = _NO_RESOLVER, *, max_buffer: int | None = None
) -> str:
    """Falco's ``evt.args``: ``name=raw`` or ``name=raw(resolved)`` for every parameter.

    `Event.specs` lists the parameters the event carries (a .scap decoder trims it for an older
    capture), so a listed parameter missing from `Event.params` was there but empty: it prints
    as ``NULL`` or ``<NA>``, as libsinsp prints it. `max_buffer` cuts buffers (BYTEBUF and
    argument lists) to that many characters ending in ``...``, as sysdig's ``-p`` output does
    with 80; Falco itself does not cut.
    """
    first = next(iter(event.specs.values()), None)
    if first is not None and first.type == T.SYSCALLID:
        return ""  # a generic syscall event: its two parameters are internal, Falco hides them
    out = []
    for name, spec in event.specs.items():
        if name in event.params:
            raw, resolved = _render(event, spec, event.params[name], resolver, max_buffer)
        else:  # in the event but empty (not available): libsinsp's two spellings of nothing
            raw, resolved = ("NULL" if spec.type in _NULL_WHEN_EMPTY else "<NA>"), ""
        out.append(f"{name}={raw}({resolved})" if resolved else f"{name}={raw}")
    return " ".join(out)


_NULL_WHEN_EMPTY = frozenset(
    {T.BYTEBUF, T.SOCKTUPLE, T.FDLIST, T.CHARBUFARRAY, T.CHARBUF_PAIR_ARRAY, T.DYNAMIC}
)


def res_text(event: Event) -> str | None:
    """Falco's ``evt.res``: ``SUCCESS``, the errno name (or number) of a failure, or None."""
    if event.res is None:
        return None
    if event.res >= 0:
        return "SUCCESS"
    return errno_name(event.res) or str(event.res)


def _render(
    event: Event,
    spec: ParamSpec,
    value: object,
    resolver: Resolver,
    max_buffer: int | None = None,
) -> tuple[str, str]:
    ptype = spec.type
    if isinstance(value, int) and not isinstance(value, bool):
        return _render_int(event, spec, value, resolver)
    if isinstance(value, str):
        if ptype in (T.FSPATH, T.FSRELPATH):
            return value, _resolve_path(event, spec, value)
        return value, ""
    if isinstance(value, bytes):
        return _buffer(value, max_buffer), ""
    if isinstance(value, tuple):
        if ptype == T.FDLIST:
            return _fdlist(event, value), ""
        text = "".join(f"{item}." for item in value) if ptype == T.CHARBUFARRAY else ""
        if ptype == T.CHARBUF_PAIR_ARRAY:
            text = ",".join(f"{k}:{v}" for k, v in zip(value[::2], value[1::2], strict=False))
        return _cut(text, max_buffer), ""
    if isinstance(value, SockTuple):
        return _socktuple(value), ""
    if isinstance(value, SockAddr):
        return str(value) if value.family != "other" else "", ""
    return str(value), ""


def _render_int(event: Event, spec: ParamSpec, value: int, resolver: Resolver) -> tuple[str, str]:
    ptype = spec.type
    if ptype == T.FD:
        return str(value), _resolve_fd(event, value)
    if ptype == T.ERRNO:
        return str(value), (errno_name(value) or "") if value < 0 else ""
    if ptype == T.PID:
        comm = resolver.thread_comm(value) if resolver.thread_comm else None
        if comm is None and event.thread is not None and event.thread.tid == value:
            comm = event.thread.comm
        return str(value), comm or ""
    if ptype in _FLAG_TYPES or ptype in _ENUM_TYPES:
        table = spec.flags or ""
        return str(value & _UINT32_MAX), render_flags(table, value, enum=ptype in _ENUM_TYPES)
    if ptype == T.MODE:
        return _number(value, T.UINT32, _fmt(event, spec)), render_mode(spec.flags or "", value)
    if ptype in (T.UID, T.GID):
        if value >= _UINT32_MAX:
            return "-1", "<NONE>"
        lookup = resolver.user_name if ptype == T.UID else resolver.group_name
        return str(value), (lookup(value) or "") if lookup else ""
    if ptype == T.SIGTYPE:
        return str(value), signal_name(value) or ""
    if ptype == T.SIGSET:
        return sigset_text(value), ""
    if ptype == T.RELTIME:
        if value == 0xFFFFFFFFFFFFFFFF:
            return "none", ""
        return str(value), f"{value / 1e9:g}s"
    if ptype == T.ABSTIME:
        return _abstime(value), ""
    if ptype in _NUMERIC:
        return _number(value, ptype, _fmt(event, spec)), ""
    return str(value), ""


def _number(value: int, ptype: str, fmt: str) -> str:
    """printf as libsinsp calls it: %d reads 32/64-bit values signed, %X and %#o unsigned."""
    if fmt == "HEX":
        return f"{value & _MASKS.get(ptype, 0xFFFFFFFFFFFFFFFF):X}"
    if fmt == "OCT":
        value &= _MASKS.get(ptype, 0xFFFFFFFFFFFFFFFF)
        return f"0{value:o}" if value else "0"
    width = _SIGNED_WIDTH.get(ptype)
    if width and value >= 1 << (width - 1):
        value -= 1 << width
    return str(value)


def _fmt(event: Event, spec: ParamSpec) -> str:
    """The print format: the spec's own (a .scap spec has one), else libscap's for this name."""
    fmt = getattr(spec, "fmt", None)
    if isinstance(fmt, str):
        return fmt
    return _libscap_formats().get((event.type, spec.name), "DEC")


_FORMATS: dict[tuple[str, str], str] = {}


def _libscap_formats() -> dict[tuple[str, str], str]:
    """(event name, param name) -> print format from libscap's exit events, read on first use.

    Imported late: the table lives with the .scap reader, and most callers never need it.
    """
    if not _FORMATS:
        from bastion.sensor.capture.scap_events import EVENTS

        for info in EVENTS.values():
            for param in info.params:
                if param.fmt != "DEC":
                    _FORMATS[info.name, param.name] = param.fmt
        _FORMATS["", ""] = "DEC"  # never empty again, even when no format differs
    return _FORMATS


def _fd_record(event: Event, fd: int) -> Fd | None:
    if event.fd is not None and event.fd.num == fd:
        return event.fd
    if event.thread is not None:
        return event.thread.fds.get(fd)
    return None


def _resolve_fd(event: Event, fd: int) -> str:
    if fd == AT_FDCWD:
        return "AT_FDCWD"
    if fd < 0:
        return errno_name(fd) or ""
    record = _fd_record(event, fd)
    if record is None:
        return ""
    typechar = FdType.TYPECHAR.get(record.type, "o")
    if record.type in (FdType.IPV4, FdType.IPV6):
        typechar += _L4CHAR.get(record.l4proto, "")
    return f"<{typechar}>{record.name}"


def _resolve_path(event: Event, spec: ParamSpec, path: str) -> str:
    """libsinsp resolves a relative path against the cwd, or the dirfd's path for *at calls."""
    thread = event.thread
    if thread is None or not path or path.startswith("/"):
        return ""
    base = thread.cwd
    dirfd_index = spec.dirfd
    if spec.type == T.FSRELPATH and dirfd_index is not None:
        names = list(event.specs)
        dirfd = event.params.get(names[dirfd_index]) if dirfd_index < len(names) else None
        if isinstance(dirfd, int) and dirfd != AT_FDCWD:
            record = _fd_record(event, dirfd)
            base = record.name if record is not None else ""
    return posixpath.normpath(posixpath.join(base or "/", path))


def _buffer(data: bytes, max_buffer: int | None) -> str:
    """libsinsp's default buffer text: printable ASCII kept, every other byte a dot."""
    text = data.translate(_DOTS).decode("ascii")
    return _cut(text, max_buffer)


def _cut(text: str, max_buffer: int | None) -> str:
    if max_buffer is not None and len(text) > max_buffer:
        return text[: max_buffer - 3] + "..."
    return text


_DOTS = bytes(b if 0x20 <= b < 0x7F else 0x2E for b in range(256))


def _socktuple(value: SockTuple) -> str:
    if value.family == "unix":
        if value.source_ptr is not None and value.dest_ptr is not None:
            # libsinsp: both ends' kernel addresses in hex, then the path
            return f"{value.source_ptr:x}->{value.dest_ptr:x} {value.dest_path or ''}"
        return f"->{value.dest_path or ''}"
    if value.family == "inet6":
        source, dest = value.source, value.dest
        mapped_s = getattr(source, "ipv4_mapped", None)
        mapped_d = getattr(dest, "ipv4_mapped", None)
        if mapped_s is not None and mapped_d is not None:
            return f"{mapped_s}:{value.sport}->{mapped_d}:{value.dport}"
    if value.family in ("inet", "inet6"):
        return str(value)
    return ""


def _fdlist(event: Event, value: tuple[object, ...]) -> str:
    parts = []
    for item in value:
        if not (isinstance(item, tuple) and len(item) == 2):
            continue
        fd, flags = item
        record = _fd_record(event, fd) if isinstance(fd, int) else None
        typechar = FdType.TYPECHAR.get(record.type, "o") if record is not None else "?"
        parts.append(f"{fd}:{typechar}{flags:x}")
    return " ".join(parts)


def _abstime(value: int) -> str:
    seconds, nanos = divmod(value, 1_000_000_000)
    stamp = time.localtime(seconds)
    return time.strftime(f"%Y-%m-%d %H:%M:%S.{nanos:09d} %z", stamp)
