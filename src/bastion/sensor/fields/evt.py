"""``evt.*`` and ``syscall.type``: the event itself (libsinsp ``sinsp_filtercheck_event.cpp``
and ``sinsp_filtercheck_gen_event.cpp``).

``evt.arg.X`` / ``evt.arg[N]`` render a parameter as Falco prints it, through
``bastion.sensor.events.render`` when that module is present (imported lazily: it is another
helper's and may not exist yet), else with `bastion.sensor.rules.ops.to_text`.
``evt.rawarg.X`` returns the decoded value unchanged (numbers stay numbers).
"""

from __future__ import annotations

import datetime
import errno
import importlib
import os
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from bastion.sensor.fields import paths
from bastion.sensor.fields.model import (
    ArgKind,
    FieldDef,
    Getter,
    InlineFor,
    StateView,
    int_arg,
    simple_field,
)
from bastion.sensor.rules.compiler import Inline, event_direction, event_type
from bastion.sensor.rules.ops import MISSING, to_text

if TYPE_CHECKING:
    from bastion.sensor.events.model import Event

NS = 1_000_000_000

# PPM open flags (driver/ppm_events_public.h): the decoders keep Falco's encoding
O_RDONLY = 1 << 0
O_WRONLY = 1 << 1
O_CREAT = 1 << 2
O_TMPFILE = 1 << 13
O_F_CREATED = 1 << 14
S_IXANY = 0o111

OPEN_EVENTS = frozenset({"open", "openat", "openat2", "open_by_handle_at"})
# events that are not syscalls: syscall.type is unset for them
NON_SYSCALL = frozenset(
    {"procexit", "switch", "signaldeliver", "page_fault", "container", "notification", "drop"}
)
IO_READ = frozenset({"read", "pread", "readv", "preadv", "recv", "recvfrom", "recvmsg", "recvmmsg"})
IO_WRITE = frozenset(
    {"write", "pwrite", "writev", "pwritev", "send", "sendto", "sendmsg", "sendmmsg"}
)


def _render(name: str) -> Callable[..., str | None] | None:
    """A function of ``bastion.sensor.events.render``, or None while it does not exist."""
    try:
        module = importlib.import_module("bastion.sensor.events.render")
    except ModuleNotFoundError:
        return None
    fn = getattr(module, name, None)
    return fn if callable(fn) else None


def _param_name(evt: Event, key: str) -> str | None:
    """``flags`` stays ``flags``; ``0`` is the name of the first parameter (Falco's order)."""
    index = int_arg(key)
    if index is None:
        return key
    names = list(evt.specs) or list(evt.params)
    return names[index] if 0 <= index < len(names) else None


def _arg(state: StateView, arg: str | None) -> Getter | None:
    del state
    if not arg:
        return None
    key = arg
    render = _render("param_text")

    def get(evt: Event) -> object:
        name = _param_name(evt, key)
        if name is None or name not in evt.params:
            return MISSING
        if render is not None:
            text = render(evt, name)
            return MISSING if text is None else text
        return to_text(evt.params[name])

    return get


def _rawarg(state: StateView, arg: str | None) -> Getter | None:
    del state
    if not arg:
        return None
    key = arg

    def get(evt: Event) -> object:
        name = _param_name(evt, key)
        if name is None:
            return MISSING
        return evt.params.get(name, MISSING)

    return get


def _res_text(res: int) -> str:
    if res >= 0:
        return "SUCCESS"
    return errno.errorcode.get(-res, str(res))


def _res(state: StateView, arg: str | None) -> Getter:
    del state, arg
    render = _render("res_text")

    def get(evt: Event) -> object:
        if evt.res is None:
            return MISSING
        if render is not None:
            return render(evt)
        return _res_text(evt.res)

    return get


def _args(state: StateView, arg: str | None) -> Getter:
    del state, arg
    render = _render("args_text")

    def get(evt: Event) -> object:
        if render is not None:
            return render(evt)
        return " ".join(f"{k}={to_text(v)}" for k, v in evt.params.items())

    return get


def _open_flags(evt: Event) -> int:
    flags = evt.params.get("flags")
    return flags if isinstance(flags, int) else 0


# `_open_flags` written out in these two: every open meets them in several rules
def _is_open_read(evt: Event) -> object:
    flags = evt.params.get("flags")
    return evt.type in OPEN_EVENTS and isinstance(flags, int) and bool(flags & O_RDONLY)


def _is_open_write(evt: Event) -> object:
    flags = evt.params.get("flags")
    return evt.type in OPEN_EVENTS and isinstance(flags, int) and bool(flags & O_WRONLY)


def _open_flag_inline(bit: int, getter: Callable[[Event], object]) -> InlineFor:
    """`getter`'s inline form (rules/codegen.py): false on events that are no open, the bit
    of an int ``flags`` on an open, the getter for any other ``flags``."""
    name = f"_evx{getter.__name__}"
    text = f"bool(_w_fl & {bit}) if type(_w_fl := evt.params.get('flags')) is int else {name}(evt)"

    def inline(state: StateView, event_type: str, direction: str) -> Inline:
        del state, direction
        if event_type not in OPEN_EVENTS:
            return Inline(constant=True, value=False)
        return Inline(text, {name: getter})

    return inline


def _is_open_create(evt: Event) -> object:
    if evt.type not in OPEN_EVENTS:
        return False
    flags = _open_flags(evt)
    if flags & O_F_CREATED:
        return True
    return bool(flags & O_TMPFILE) and evt.res is not None and evt.res >= 0


def _is_open_exec(evt: Event) -> object:
    mode = evt.params.get("mode")
    if not isinstance(mode, int):
        return False
    if evt.type == "creat":
        return bool(mode & S_IXANY)
    if evt.type in OPEN_EVENTS and evt.type != "open_by_handle_at":
        return bool(_open_flags(evt) & (O_TMPFILE | O_CREAT)) and bool(mode & S_IXANY)
    return False


def _abspath(table: dict[str, tuple[str | None, str]]) -> Callable[[Event], object]:
    def get(evt: Event) -> object:
        where = table.get(evt.type)
        if where is None:
            return MISSING
        path = paths.resolve(evt, where)
        return MISSING if path is None else path

    return get


def _local_clock(ts: int, *, date: bool, ns: bool) -> str:
    """libsinsp ``ts_to_string``: local time of day, optionally with date and nanoseconds."""
    secs, frac = divmod(ts, NS)
    stamp = time.localtime(secs)
    text = time.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S", stamp)
    return f"{text}.{frac:09d}" if ns else text


def _iso8601(ts: int) -> str:
    secs, frac = divmod(ts, NS)
    stamp = datetime.datetime.fromtimestamp(secs, tz=datetime.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}+0000"


def _buflen(evt: Event) -> object:
    if "data" not in evt.params:
        return MISSING
    if evt.res is not None and evt.res >= 0:
        return evt.res
    data = evt.params["data"]
    return len(data) if isinstance(data, bytes) else MISSING


def _type_is(state: StateView, arg: str | None) -> Getter | None:
    del state
    if not arg:
        return None
    wanted = arg
    return lambda evt: int(evt.type == wanted)


def _hostname(state: StateView, arg: str | None) -> Getter:
    del state, arg
    # Falco reads the host name once at start-up; FALCO_HOSTNAME overrides it
    name = os.environ.get("FALCO_HOSTNAME") or socket.gethostname()
    return lambda evt: name


_f = simple_field


FIELDS: tuple[FieldDef, ...] = (
    _f("evt.num", "uint64", "The event's sequence number in its stream.", lambda e: e.num),
    _f(
        "evt.time",
        "string",
        "Local time of day with nanoseconds (HH:MM:SS.nnnnnnnnn).",
        lambda e: _local_clock(e.ts, date=False, ns=True),
    ),
    _f(
        "evt.time.s",
        "string",
        "Local time of day, whole seconds.",
        lambda e: _local_clock(e.ts, date=False, ns=False),
    ),
    _f(
        "evt.time.iso8601",
        "string",
        "UTC timestamp in ISO 8601 with nanoseconds.",
        lambda e: _iso8601(e.ts),
    ),
    _f(
        "evt.datetime",
        "string",
        "Local date and time with nanoseconds.",
        lambda e: _local_clock(e.ts, date=True, ns=True),
    ),
    _f(
        "evt.datetime.s",
        "string",
        "Local date and time, whole seconds.",
        lambda e: _local_clock(e.ts, date=True, ns=False),
    ),
    _f("evt.rawtime", "abstime", "Timestamp in ns since the Unix epoch.", lambda e: e.ts),
    _f("evt.rawtime.s", "abstime", "Whole seconds of evt.rawtime.", lambda e: e.ts // NS),
    _f("evt.rawtime.ns", "abstime", "Sub-second ns of evt.rawtime.", lambda e: e.ts % NS),
    # the compiler's own getter: generated matchers fold checks on it (rules/codegen.py)
    _f("evt.type", "string", "Event name (open, execve, connect...).", event_type),
    _f(
        "syscall.type",
        "string",
        "Syscall name; unset for events that are not syscalls (procexit...).",
        lambda e: MISSING if e.type in NON_SYSCALL else e.type,
    ),
    FieldDef(
        "evt.type.is",
        "uint32",
        "evt.type.is.NAME: 1 when the event is of type NAME, else 0.",
        _type_is,
        ArgKind.REQUIRED,
        dotted=True,
    ),
    _f("evt.dir", "string", "'>' for an enter event, '<' for an exit event.", event_direction),
    _f("evt.category", "string", "Coarse category (file, net, process...).", lambda e: e.category),
    _f("evt.cpu", "int16", "CPU the event was captured on.", lambda e: e.cpu),
    FieldDef("evt.args", "string", "Every parameter rendered as name=value.", _args),
    FieldDef("evt.info", "string", "Same as evt.args.", _args),
    FieldDef(
        "evt.arg",
        "string",
        "One parameter as text: evt.arg.NAME or evt.arg[INDEX].",
        _arg,
        ArgKind.REQUIRED,
        dotted=True,
    ),
    FieldDef(
        "evt.rawarg",
        "dynamic",
        "One parameter as its typed value (numbers stay numbers): evt.rawarg.NAME.",
        _rawarg,
        ArgKind.REQUIRED,
        dotted=True,
    ),
    FieldDef("evt.res", "string", "Return value as text: SUCCESS or an errno name.", _res),
    _f(
        "evt.rawres",
        "int64",
        "Return value as a number (negative errno on failure).",
        lambda e: MISSING if e.res is None else e.res,
    ),
    _f(
        "evt.failed",
        "bool",
        "True when the call returned an error.",
        lambda e: e.res is not None and e.res < 0,
    ),
    _f(
        "evt.is_open_read",
        "bool",
        "An open-family call that opened for reading.",
        _is_open_read,
        _open_flag_inline(O_RDONLY, _is_open_read),
    ),
    _f(
        "evt.is_open_write",
        "bool",
        "An open-family call that opened for writing.",
        _is_open_write,
        _open_flag_inline(O_WRONLY, _is_open_write),
    ),
    _f("evt.is_open_create", "bool", "An open-family call that created the file.", _is_open_create),
    _f(
        "evt.is_open_exec",
        "bool",
        "An open-family or creat call creating a file with an execute bit.",
        _is_open_exec,
    ),
    _f(
        "evt.is_io_read",
        "bool",
        "A read-type call on a file descriptor.",
        lambda e: e.type in IO_READ,
    ),
    _f(
        "evt.is_io_write",
        "bool",
        "A write-type call on a file descriptor.",
        lambda e: e.type in IO_WRITE,
    ),
    _f(
        "evt.is_io",
        "bool",
        "A read- or write-type call on a file descriptor.",
        lambda e: e.type in IO_READ or e.type in IO_WRITE,
    ),
    _f(
        "evt.abspath",
        "string",
        "Absolute path of the file the call acts on (dirfd or cwd joined).",
        _abspath(paths.PATH_PARAMS),
    ),
    _f(
        "evt.abspath.src",
        "string",
        "Absolute source path of a two-path call (rename, link...).",
        _abspath(paths.SRC_PARAMS),
    ),
    _f(
        "evt.abspath.dst",
        "string",
        "Absolute destination path of a two-path call (rename, link...).",
        _abspath(paths.DST_PARAMS),
    ),
    _f(
        "evt.buffer",
        "bytes",
        "The data buffer of an I/O call.",
        lambda e: e.params.get("data", MISSING),
    ),
    _f("evt.buflen", "uint64", "Length of the data an I/O call moved.", _buflen),
    _f("evt.count", "uint32", "Always 1, for counting.", lambda e: 1),
    _f(
        "evt.count.error",
        "uint32",
        "1 when the call failed.",
        lambda e: int(e.res is not None and e.res < 0),
    ),
    _f("evt.source", "string", "The event source: always syscall here.", lambda e: "syscall"),
    _f("evt.is_async", "bool", "True for asynchronous (metadata) events.", lambda e: False),
    FieldDef(
        "evt.hostname", "string", "Host name of the sensor (FALCO_HOSTNAME overrides).", _hostname
    ),
)


def event_type_names() -> frozenset[str]:
    """Every name ``evt.type`` can hold: libs' event names (live table and .scap table), the
    events that are not syscalls, and every x86_64 syscall name (libsinsp reports a syscall
    without an event of its own under its name, as a generic event)."""
    from bastion._sys.syscall_table import X86_64
    from bastion.sensor.capture.scap_events import EVENTS as SCAP_EVENTS
    from bastion.sensor.events.schema import BY_NAME

    names = set(BY_NAME) | {e.name for e in SCAP_EVENTS.values()} | set(X86_64)
    return frozenset(names | NON_SYSCALL)
