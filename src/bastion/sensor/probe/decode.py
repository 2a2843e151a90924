"""Probe records (bastion_record.h) -> `Event` objects, driven by events/schema.py.

Each event code gets, once, its parameter list as (name, reader) pairs and one precompiled
`struct.Struct` for its length array; a record is then decoded with one header unpack, one
lengths unpack and one small reader call per parameter. Readers are chosen by `ParamType`
(integers by width, strings with surrogateescape, argv/env as tuples, sockets as
`SockAddr`/`SockTuple` with `ipaddress` objects). A length of 0 means the probe could not read
the parameter: it is left out of `Event.params`.

The same `Decoder` decodes records read live and records read back from a capture file, so
`bastion events -r` and a live probe agree; a capture should keep `Decoder.boot_epoch_ns`, the
offset that turns the probe's CLOCK_BOOTTIME stamps into ns since the Unix epoch.

When the compiled accelerator is built (probe/accel.py, accel.c), `Decoder.decode` hands whole
batches to it: it makes the same `Event`s from the layouts `accel_layout` derives here, and a
batch it refuses is decoded again by the Python code below, which stays the definition.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import struct
import time
from collections.abc import Callable, Iterable
from typing import cast

from bastion.errors import BastionError
from bastion.sensor.events import model
from bastion.sensor.events.flags import from_kernel
from bastion.sensor.events.model import (
    Direction,
    Event,
    ParamSpec,
    ParamType,
    ParamValue,
    SockAddr,
    SockTuple,
)
from bastion.sensor.events.schema import BY_NAME, EVENTS, EventSpec

T = ParamType

# struct bst_hdr: ts, cgroup_id, ret, tid, tgid, code, cpu, nparams, size.
HEADER = struct.Struct("<QQqIIHHHH")
assert HEADER.size == 40
#: bastion_record.h's BST_CPU_KILLED: the bit of `cpu` saying the probe SIGKILLed the task.
CPU_KILLED = 0x8000

Reader = Callable[[bytes, int, int], ParamValue]


class RecordError(BastionError):
    """A record that does not match bastion_record.h or events/schema.py."""

    reference = "probe-record-invalid"


def _int_reader(fmt: str) -> Reader:
    unpack = struct.Struct(fmt).unpack_from

    def read(raw: bytes, off: int, length: int) -> ParamValue:
        value: int = unpack(raw, off)[0]  # every format here is one integer
        return value

    return read


def _text(raw: bytes, off: int, length: int) -> ParamValue:
    end = off + length
    if raw[end - 1] == 0:
        end -= 1
    return raw[off:end].decode("utf-8", "surrogateescape")


def _strings(raw: bytes, off: int, length: int) -> ParamValue:
    parts = raw[off : off + length].split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    return tuple(p.decode("utf-8", "surrogateescape") for p in parts)


def _bytes(raw: bytes, off: int, length: int) -> ParamValue:
    return raw[off : off + length]


_FAMILIES: dict[int, str] = {
    int(socket.AF_INET): "inet",
    int(socket.AF_INET6): "inet6",
    int(socket.AF_UNIX): "unix",
}


def _family_name(family: int) -> str:
    return _FAMILIES.get(family, "other")


def _unix_path(raw: bytes) -> str:
    if raw[:1] == b"\0":  # abstract: Falco prints it with a leading '@'
        return "@" + raw[1:].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _sockaddr(raw: bytes, off: int, length: int) -> ParamValue:
    """The raw struct sockaddr the caller passed (family in host order, port in network)."""
    data = raw[off : off + length]
    if len(data) < 2:
        return SockAddr("other")
    family = int.from_bytes(data[:2], "little")
    if family == socket.AF_INET and len(data) >= 8:
        port = int.from_bytes(data[2:4], "big")
        return SockAddr("inet", ipaddress.IPv4Address(data[4:8]), port)
    if family == socket.AF_INET6 and len(data) >= 24:
        port = int.from_bytes(data[2:4], "big")
        return SockAddr("inet6", ipaddress.IPv6Address(data[8:24]), port)
    if family == socket.AF_UNIX:
        return SockAddr("unix", path=_unix_path(data[2:]))
    return SockAddr(_family_name(family))


_PORT = struct.Struct("<H").unpack_from


def _socktuple(raw: bytes, off: int, length: int) -> ParamValue:
    family = raw[off]
    if family == socket.AF_INET and length >= 13:
        return SockTuple(
            "inet",
            ipaddress.IPv4Address(raw[off + 1 : off + 5]),
            _PORT(raw, off + 5)[0],
            ipaddress.IPv4Address(raw[off + 7 : off + 11]),
            _PORT(raw, off + 11)[0],
        )
    if family == socket.AF_INET6 and length >= 37:
        return SockTuple(
            "inet6",
            ipaddress.IPv6Address(raw[off + 1 : off + 17]),
            _PORT(raw, off + 17)[0],
            ipaddress.IPv6Address(raw[off + 19 : off + 35]),
            _PORT(raw, off + 35)[0],
        )
    if family == socket.AF_UNIX:
        paths = raw[off + 1 : off + length].split(b"\0")
        source = paths[0].decode("utf-8", "surrogateescape") if paths else ""
        dest = paths[1].decode("utf-8", "surrogateescape") if len(paths) > 1 else ""
        return SockTuple("unix", source_path=source, dest_path=dest)
    return SockTuple(_family_name(family))


def open_flags_to_ppm(flags: int) -> int:
    """Linux O_* bits as Falco's PPM_O_* (what `evt.arg.flags` renders for open events)."""
    return from_kernel("file_flags", flags)


def clone_flags_to_ppm(flags: int) -> int:
    """Linux CLONE_* bits as Falco's PPM_CL_*."""
    return from_kernel("clone_flags", flags)


def _memoised(convert: Callable[[int], int]) -> Callable[[int], int]:
    """A few distinct flag values recur endlessly: convert each once."""
    cache: dict[int, int] = {}

    def cached(value: int) -> int:
        out = cache.get(value)
        if out is None:
            out = convert(value)
            if len(cache) < 4096:  # bounded: a hostile flood of odd values cannot grow it
                cache[value] = out
        return out

    return cached


# Integer types: their struct format (bastion_record.h's widths).
_INT_FORMATS: dict[str, str] = {
    T.ERRNO: "<q",
    T.FD: "<q",
    T.PID: "<q",
    T.INT64: "<q",
    T.UINT64: "<Q",
    T.UID: "<I",
    T.GID: "<I",
    T.UINT32: "<I",
    T.MODE: "<I",
    T.FLAGS32: "<I",
    T.ENUMFLAGS32: "<I",
    T.INT32: "<i",
    T.UINT16: "<H",
    T.FLAGS16: "<H",
    T.ENUMFLAGS16: "<H",
    T.UINT8: "<B",
    T.SIGTYPE: "<B",
}
_INT_UNPACK = {t: struct.Struct(f).unpack_from for t, f in _INT_FORMATS.items()}

_READERS: dict[str, Reader] = {
    **{t: _int_reader(f) for t, f in _INT_FORMATS.items()},
    T.CHARBUF: _text,
    T.FSPATH: _text,
    T.FSRELPATH: _text,
    T.CHARBUFARRAY: _strings,
    T.BYTEBUF: _bytes,
    T.SOCKADDR: _sockaddr,
    T.SOCKTUPLE: _socktuple,
}

# Every flag or enum parameter leaves the decoder in Falco's encoding (events/flags.py), so a
# live event and a .scap event of the same call carry the same values for the same fields.
_FLAG_CONVERTERS: dict[str, Callable[[int], int]] = {
    table: _memoised(functools.partial(from_kernel, table))
    for table in {p.flags for e in EVENTS for p in e.params if p.flags}
}


def reader_for(param: ParamSpec) -> Reader:
    """The function that decodes one parameter of this spec from a record."""
    try:
        reader = _READERS[param.type]
    except KeyError:
        raise RecordError(
            f"parameter {param.name!r} has type {param.type}, which the probe cannot encode",
            where="src/bastion/sensor/events/schema.py",
            hint="use one of the types bastion_record.h lists",
        ) from None
    convert = _FLAG_CONVERTERS.get(param.flags or "")
    if convert is None:
        return reader

    def read(raw: bytes, off: int, length: int) -> ParamValue:
        value = reader(raw, off, length)
        assert isinstance(value, int)
        return convert(value)

    return read


# How the hot loop decodes one parameter: (name, int unpack or None, other reader or None).
_Step = tuple[str, "Callable[[bytes, int], tuple[int]] | None", "Reader | None"]


def _step(param: ParamSpec) -> _Step:
    unpack = _INT_UNPACK.get(param.type)
    if unpack is not None and not _FLAG_CONVERTERS.get(param.flags or ""):
        return (param.name, unpack, None)
    return (param.name, None, reader_for(param))


ParamsDecoder = Callable[[bytes], tuple[dict[str, object], int]]


def _decoder_code(spec: EventSpec) -> tuple[str, dict[str, object]]:
    """The source of `spec`'s parameter decoder and the names it reads (struct unpackers and
    readers), as `_params_decoder` compiles them."""
    n = len(spec.params)
    env: dict[str, object] = {"lengths": struct.Struct(f"<{n}H").unpack_from}
    lines = ["def decode(raw):"]
    if n:
        names = ", ".join(f"l{i}" for i in range(n))
        lines.append(f"    {names}{',' if n == 1 else ''} = lengths(raw, 40)")
    lines.append(f"    off = {40 + 2 * n}")
    steps = [_step(param) for param in spec.params]
    for i, (_name, unpack, read) in enumerate(steps):
        env[f"u{i}" if unpack is not None else f"r{i}"] = unpack if unpack is not None else read
    if n:
        # the common case, every parameter readable: one dict display, no branch per parameter
        lines.append("    if " + " and ".join(f"l{i}" for i in range(n)) + ":")
        lines.append("        o1 = off + l0")
        lines.extend(f"        o{i} = o{i - 1} + l{i - 1}" for i in range(2, n + 1))
        items = []
        for i, (name, unpack, _read) in enumerate(steps):
            at = "off" if i == 0 else f"o{i}"
            if unpack is not None:
                items.append(f"{name!r}: u{i}(raw, {at})[0]")
            else:
                items.append(f"{name!r}: r{i}(raw, {at}, l{i})")
        lines.append("        return {" + ", ".join(items) + f"}}, o{n}")
    lines.append("    p = {}")
    for i, (name, unpack, _read) in enumerate(steps):
        if unpack is not None:
            lines.append(f"    if l{i}: p[{name!r}] = u{i}(raw, off)[0]")
        else:
            lines.append(f"    if l{i}: p[{name!r}] = r{i}(raw, off, l{i})")
        lines.append(f"    off += l{i}")
    lines.append("    return p, off")
    return "\n".join(lines) + "\n", env


def decoder_source(name: str) -> str:
    """The Python source of the parameter decoder the live decoder builds (with `exec`) for
    the event `name`, with a comment naming what each ``u<i>``/``r<i>`` it calls is: what
    `bastion events --decoder-source NAME` prints. Raises KeyError for an unknown event."""
    spec = BY_NAME[name]
    code, env = _decoder_code(spec)
    notes = [f"# decoder of {spec.name!r} (code {spec.code}), generated from events/schema.py"]
    notes.append("# lengths: the record's u16 length array, one per parameter, at byte 40")
    for i, param in enumerate(spec.params):
        for key in (f"u{i}", f"r{i}"):
            if key in env:
                how = "struct unpack" if key[0] == "u" else "reader"
                flags = f", Falco's {param.flags} encoding" if param.flags else ""
                notes.append(f"# {key}: {param.name} ({param.type}{flags}), {how}")
    return "\n".join(notes) + "\n" + code


def _params_decoder(spec: EventSpec) -> ParamsDecoder:
    """A function made for this event type: its parameters from a record, and the end offset.

    Generated once per event type (straight-line code; a length of 0 means unreadable, and
    only a record with an unreadable parameter takes the branch-per-parameter path) because a
    generic loop over (name, reader) pairs cost more than the record's header and the `Event`
    together. `decoder_source` shows the code.
    """
    code, env = _decoder_code(spec)
    exec(compile(code, f"<decoder {spec.name}>", "exec"), env)
    return cast("ParamsDecoder", env["decode"])


class _Layout:
    """What decoding one event code needs, computed once."""

    __slots__ = ("category", "decode_params", "has_res", "name", "nparams", "specs")

    def __init__(self, spec: EventSpec) -> None:
        self.name = spec.name
        self.category = spec.category
        self.specs = spec.specs
        self.nparams = len(spec.params)
        # clone and syscalls return a value; procexit has none (Event.res stays None).
        self.has_res = bool(spec.params) and spec.params[0].name in ("res", "fd")
        self.decode_params = _params_decoder(spec)


def boot_epoch_ns() -> int:
    """ns since the epoch at boot: added to CLOCK_BOOTTIME stamps (bpf_ktime_get_boot_ns)."""
    before = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    now = time.time_ns()
    after = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    return now - (before + after) // 2


# accel.c's parameter kinds (its `enum kind`, by index): integers by width and sign, then text,
# argv/env and bytes; ACCEL_READER is a parameter decoded by its Python reader (sockets).
_ACCEL_KIND_TYPES: tuple[tuple[str, ...], ...] = (
    (T.ERRNO, T.FD, T.PID, T.INT64),  # s64
    (T.UINT64,),
    (T.INT32,),
    (T.UID, T.GID, T.UINT32, T.MODE, T.FLAGS32, T.ENUMFLAGS32),  # u32
    (T.UINT16, T.FLAGS16, T.ENUMFLAGS16),
    (T.UINT8, T.SIGTYPE),
    (T.CHARBUF, T.FSPATH, T.FSRELPATH),  # text
    (T.CHARBUFARRAY,),
    (T.BYTEBUF,),
)
ACCEL_KINDS = {t: kind for kind, types in enumerate(_ACCEL_KIND_TYPES) for t in types}
ACCEL_READER = 9  # a Python reader (sockaddr, socktuple): called by the C decoder


def accel_layout(
    spec: EventSpec,
) -> tuple[str, str, dict[str, ParamSpec], bool, tuple[object, ...]]:
    """What accel.c needs to decode `spec`'s records as `_Layout` and `_params_decoder` do:
    (name, category, specs, has_res, ((param name, kind, flag converter, reader), ...))."""
    layout = _Layout(spec)
    params: list[tuple[str, int, object, object]] = []
    for param in spec.params:
        convert = _FLAG_CONVERTERS.get(param.flags or "")
        kind = ACCEL_KINDS.get(param.type)
        if kind is None:  # also what the Python path raises for a type the probe cannot encode
            params.append((param.name, ACCEL_READER, None, reader_for(param)))
        else:
            params.append((param.name, kind, convert, None))
    return layout.name, layout.category, layout.specs, layout.has_res, tuple(params)


class Decoder:
    """Turns batches of probe records into `Event`s; numbers them from `next_num` on."""

    def __init__(
        self,
        *,
        boot_epoch: int | None = None,
        events: Iterable[EventSpec] = EVENTS,
        accel: bool | None = None,
    ) -> None:
        """`accel`: decode with the compiled accelerator (True: required, False: never, None:
        when built and not turned off by ``BASTION_SENSOR_ACCEL=0``)."""
        self.boot_epoch_ns = boot_epoch_ns() if boot_epoch is None else boot_epoch
        self.next_num = 1
        specs = tuple(events)
        self._layouts = {spec.code: _Layout(spec) for spec in specs}
        self._accel = _accelerator(specs, accel)

    @property
    def accelerated(self) -> bool:
        """Whether batches go through the compiled accelerator."""
        return self._accel is not None

    def decode(self, records: list[bytes]) -> list[Event]:
        """Decode a batch; raises `RecordError` on a record that breaks the format."""
        fast = self._accel
        if fast is not None:
            batch = records if type(records) is list else list(records)
            try:
                out: list[Event] = fast(batch, self.next_num, self.boot_epoch_ns)
            except ValueError:
                pass  # a record breaks the format: the Python path raises its error
            else:
                self.next_num += len(out)
                return out
        return self.decode_python(records)

    def decode_python(self, records: list[bytes]) -> list[Event]:
        """`decode` in pure Python (the definition the accelerator follows)."""
        out = []
        unpack_header = HEADER.unpack_from
        layouts = self._layouts
        epoch = self.boot_epoch_ns
        num = self.next_num
        exit_dir = Direction.EXIT
        for raw in records:
            if len(raw) < 40:
                raise RecordError(f"record of {len(raw)} bytes is shorter than its header")
            ts, cgroup_id, ret, tid, tgid, code, cpu, nparams, size = unpack_header(raw, 0)
            layout = layouts.get(code)
            if layout is None or layout.nparams != nparams or size > len(raw):
                raise RecordError(
                    f"record {num}: code {code} with {nparams} parameters and size {size} "
                    f"does not match the event table ({len(raw)} bytes read)",
                    hint="the probe object and events/schema.py disagree: rebuild the probe",
                )
            params, off = layout.decode_params(raw)
            if off > size:
                raise RecordError(f"record {num}: parameters run past its size {size}")
            out.append(  # positional: keyword matching cost 0.4 us of each event
                Event(
                    num,
                    ts + epoch,
                    cpu,
                    tid,
                    tgid,
                    layout.name,
                    exit_dir,
                    layout.category,
                    params,
                    layout.specs,
                    ret if layout.has_res else None,
                    cgroup_id,
                )
            )
            if cpu & CPU_KILLED:  # rare: the in-kernel kill acted on this event's process
                event = out[-1]
                event.cpu = cpu & ~CPU_KILLED
                event.kernel_killed = True
            num += 1
        self.next_num = num
        return out


def _accelerator(
    specs: tuple[EventSpec, ...], wanted: bool | None
) -> Callable[[list[bytes], int, int], list[Event]] | None:
    """accel.c's batch decoder for `specs`, or None for the Python path."""
    if wanted is False:
        return None
    from bastion.sensor.probe import accel

    module = accel.load()
    if module is None:
        if wanted:
            raise accel.AccelBuildError(
                f"the compiled decoder is not built for this Python ({accel.object_path()}) "
                f"or {accel.ACCEL_ENV}=0: run scripts/setup"
            )
        return None
    layouts = {spec.code: accel_layout(spec) for spec in specs}
    decoder = module.BatchDecoder(model.Event, Direction.EXIT, layouts)
    return cast("Callable[[list[bytes], int, int], list[Event]]", decoder.decode)
