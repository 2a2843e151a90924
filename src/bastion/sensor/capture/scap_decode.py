"""Typed decoding of .scap events: `RawEvent` (parameters as bytes) -> `Event` (typed values).

Each event code gets one `_Decoder`, built on first use and cached per byte order: the event's
`ScapEventInfo`, its `specs` dict (shared by every event of that code) and one converter per
parameter, chosen by type and bound to a precompiled `struct.Struct`. Decoding an event is then a
loop of converter calls. Values follow `bastion.sensor.events.model`: integers signed or unsigned
as the type says (FD, ERRNO and PID signed 64-bit), paths and text as ``str`` (NUL stripped,
undecodable bytes kept with ``surrogateescape``), BYTEBUF as ``bytes``, CHARBUFARRAY as
``tuple[str, ...]``, SOCKADDR/SOCKTUPLE as `SockAddr`/`SockTuple` after libscap's byte layouts.
A zero-length parameter is "not available" and is left out of `Event.params` (a zero-length
BYTEBUF is an empty buffer and kept as ``b""``).

A generic ``syscall`` event (libscap's catch-all for syscalls without an event of their own) is
named after its syscall (``mprotect``), as Falco's ``evt.type`` names it.

Codes the table does not know become an event named ``NA`` whose parameters are the raw bytes
(``arg0``, ``arg1``...), as do parameters beyond the ones the table lists (a newer capture). A
parameter whose bytes do not fit its type raises `ScapFormatError` naming the byte offset in the
(decompressed) capture, never `struct.error`.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from bastion.sensor.capture.scap import RawEvent, ScapFile, SectionHeader
from bastion.sensor.capture.scap_blocks import ScapFormatError
from bastion.sensor.capture.scap_events import (
    DYNAMIC_PARAMS,
    EVENTS,
    SYSCALL_NAMES,
    ScapEventInfo,
    ScapParamSpec,
)
from bastion.sensor.events.model import (
    Category,
    Direction,
    Event,
    ParamSpec,
    ParamType,
    SockAddr,
    SockTuple,
)

T = ParamType
Converter = Callable[[bytes], object]

# libscap's socket families (PPM_AF_*, the Linux numbers).
AF_UNIX = 1
AF_INET = 2
AF_INET6 = 10

_INT_FORMATS = {
    T.INT8: "b",
    T.INT16: "h",
    T.INT32: "i",
    T.INT64: "q",
    T.UINT8: "B",
    T.UINT16: "H",
    T.UINT32: "I",
    T.UINT64: "Q",
    T.ERRNO: "q",
    T.FD: "q",
    T.PID: "q",
    T.SYSCALLID: "H",
    T.SIGTYPE: "B",
    T.RELTIME: "Q",
    T.ABSTIME: "Q",
    T.PORT: "H",
    T.L4PROTO: "B",
    T.SOCKFAMILY: "B",
    T.BOOL: "I",
    T.FLAGS8: "B",
    T.FLAGS16: "H",
    T.FLAGS32: "I",
    T.ENUMFLAGS8: "B",
    T.ENUMFLAGS16: "H",
    T.ENUMFLAGS32: "I",
    T.UID: "I",
    T.GID: "I",
    T.MODE: "I",
    T.SIGSET: "I",
    "FD32": "i",
    "PID32": "i",
}
_NO_RES_CODES = frozenset({1, 149})  # PPME_GENERIC_X, PPME_DROP_X
_UNSIGNED_BITS = {T.UINT64: 64, T.UINT32: 32}
_ABSENT = object()
# A zero-length buffer or list is an empty one; any other zero-length parameter is "not available".
_EMPTY: dict[str, object] = {T.BYTEBUF: b"", T.CHARBUFARRAY: ()}


class _Malformed(Exception):
    """A parameter's bytes do not fit its type; becomes ScapFormatError with an offset."""


def _text(blob: bytes) -> str:
    end = blob.find(b"\0")
    return (blob if end < 0 else blob[:end]).decode("utf-8", "surrogateescape")


def _text_array(blob: bytes) -> tuple[str, ...]:
    parts = blob.split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    return tuple(p.decode("utf-8", "surrogateescape") for p in parts)


def _int_converter(fmt: str, order: str) -> Converter:
    unpack = struct.Struct(order + fmt).unpack

    def convert(blob: bytes) -> object:
        return unpack(blob)[0]

    return convert


def _sockaddr(order: str) -> Converter:
    port_of = struct.Struct(order + "H").unpack_from

    def convert(blob: bytes) -> object:
        family = blob[0]
        if family == AF_INET:
            if len(blob) < 7:
                raise _Malformed(f"inet address needs 7 bytes, has {len(blob)}")
            return SockAddr("inet", ipaddress.IPv4Address(blob[1:5]), port_of(blob, 5)[0])
        if family == AF_INET6:
            if len(blob) < 19:
                raise _Malformed(f"inet6 address needs 19 bytes, has {len(blob)}")
            return SockAddr("inet6", ipaddress.IPv6Address(blob[1:17]), port_of(blob, 17)[0])
        if family == AF_UNIX:
            return SockAddr("unix", path=_text(blob[1:]))
        return SockAddr("other")

    return convert


def _socktuple(order: str) -> Converter:
    port_of = struct.Struct(order + "H").unpack_from
    ptrs_of = struct.Struct(order + "QQ").unpack_from

    def convert(blob: bytes) -> object:
        family = blob[0]
        if family == AF_INET:
            if len(blob) < 13:
                raise _Malformed(f"inet tuple needs 13 bytes, has {len(blob)}")
            return SockTuple(
                "inet",
                ipaddress.IPv4Address(blob[1:5]),
                port_of(blob, 5)[0],
                ipaddress.IPv4Address(blob[7:11]),
                port_of(blob, 11)[0],
            )
        if family == AF_INET6:
            if len(blob) < 37:
                raise _Malformed(f"inet6 tuple needs 37 bytes, has {len(blob)}")
            return SockTuple(
                "inet6",
                ipaddress.IPv6Address(blob[1:17]),
                port_of(blob, 17)[0],
                ipaddress.IPv6Address(blob[19:35]),
                port_of(blob, 35)[0],
            )
        if family == AF_UNIX:
            # family, source and destination kernel socket pointers (u64 each), then the path.
            if len(blob) < 17:
                raise _Malformed(f"unix tuple needs 17 bytes, has {len(blob)}")
            source_ptr, dest_ptr = ptrs_of(blob, 1)
            return SockTuple(
                "unix", dest_path=_text(blob[17:]), source_ptr=source_ptr, dest_ptr=dest_ptr
            )
        return SockTuple("other")

    return convert


def _fdlist(order: str) -> Converter:
    count_of = struct.Struct(order + "H").unpack_from
    entry = struct.Struct(order + "qH")

    def convert(blob: bytes) -> object:
        (count,) = count_of(blob, 0)
        if len(blob) != 2 + count * entry.size:
            raise _Malformed(f"fd list of {count} entries cannot span {len(blob)} bytes")
        return tuple(entry.iter_unpack(blob[2:]))

    return convert


def _dynamic(spec: ScapParamSpec, order: str) -> Converter:
    choices = [_converter(ptype, order) for ptype in DYNAMIC_PARAMS.get(spec.dynamic or "", ())]

    def convert(blob: bytes) -> object:
        if blob[0] >= len(choices):
            raise _Malformed(f"dynamic parameter index {blob[0]} is out of range")
        return choices[blob[0]](blob[1:])

    return convert


def _ipaddr(blob: bytes) -> object:
    return ipaddress.ip_address(blob)


def _double(order: str) -> Converter:
    unpack = struct.Struct(order + "d").unpack
    return lambda blob: unpack(blob)[0]


def _converter(ptype: str, order: str, spec: ScapParamSpec | None = None) -> Converter:
    """One converter per type; a wrong length surfaces as struct.error/ValueError/IndexError."""
    fmt = _INT_FORMATS.get(ptype)
    if fmt is not None:
        return _int_converter(fmt, order)
    if ptype in (T.CHARBUF, T.FSPATH, T.FSRELPATH):
        return _text
    if ptype in (T.CHARBUFARRAY, T.CHARBUF_PAIR_ARRAY):
        return _text_array
    if ptype == T.SOCKADDR:
        return _sockaddr(order)
    if ptype == T.SOCKTUPLE:
        return _socktuple(order)
    if ptype == T.FDLIST:
        return _fdlist(order)
    if ptype in (T.DYNAMIC, "DYN") and spec is not None:
        return _dynamic(spec, order)
    if ptype in (T.IPV4ADDR, T.IPV6ADDR, T.IPADDR):
        return _ipaddr
    if ptype == T.DOUBLE:
        return _double(order)
    return bytes  # BYTEBUF, IPNET... and anything new: the bytes themselves


@dataclass(frozen=True, slots=True)
class _Decoder:
    """Everything needed to decode one event code in one byte order, built once."""

    name: str
    dir: str
    category: str
    names: tuple[str, ...]
    converters: tuple[Converter, ...]
    specs: dict[str, ParamSpec]
    has_res: bool
    generic: bool = False  # a ``syscall`` event: its name comes from its ``ID`` parameter
    empty: tuple[object, ...] = ()  # per parameter, the value of a zero-length one (or _ABSENT)
    res_bits: int = 0  # the return value is unsigned on disk: reread it signed at this width


def _build(code: int, order: str) -> _Decoder:
    info: ScapEventInfo | None = EVENTS.get(code)
    if info is None:
        direction = Direction.EXIT if code & 1 else Direction.ENTER
        return _Decoder("NA", direction, Category.UNKNOWN, (), (), {}, has_res=False)
    converters = tuple(_converter(p.wire or p.type, order, p) for p in info.params)
    # libsinsp: every syscall exit event's first parameter is its return value, whatever its
    # name (res, fd, ...), read signed; the generic exit and the drop event have none.
    first = info.params[0] if info.params else None
    has_res = info.dir == Direction.EXIT and first is not None and code not in _NO_RES_CODES
    res_bits = _UNSIGNED_BITS.get(first.wire or first.type, 0) if first is not None else 0
    names = tuple(p.name for p in info.params)
    empty = tuple(_EMPTY.get(p.type, _ABSENT) for p in info.params)
    return _Decoder(
        info.name,
        info.dir,
        info.category,
        names,
        converters,
        info.specs,
        has_res,
        generic=code in (0, 1),
        empty=empty,
        res_bits=res_bits,
    )


_CACHE: dict[tuple[int, str], _Decoder] = {}
_SPECS_BY_COUNT: dict[tuple[int, int], dict[str, ParamSpec]] = {}


def _decoder(code: int, order: str) -> _Decoder:
    decoder = _CACHE.get((code, order))
    if decoder is None:
        decoder = _CACHE[code, order] = _build(code, order)
    return decoder


def _specs_for_count(code: int, decoder: _Decoder, count: int) -> dict[str, ParamSpec]:
    """Specs for an event with `count` parameters when the table lists another number.

    An older capture has fewer (the specs stop where its parameters stop, so a renderer can
    tell "not in this event" from "in it, zero-length"); a newer one has more, which get raw
    ``argN`` specs. One dict per (code, count), shared like the table's own.
    """
    specs = _SPECS_BY_COUNT.get((code, count))
    if specs is None:
        specs = {name: decoder.specs[name] for name in decoder.names[:count]}
        for index in range(len(decoder.names), count):
            specs[f"arg{index}"] = ParamSpec(f"arg{index}", T.BYTEBUF)
        _SPECS_BY_COUNT[code, count] = specs
    return specs


def decode_event(
    raw: RawEvent,
    num: int,
    *,
    order: str = "<",
    where: Callable[[int], str] | None = None,
) -> Event:
    """Decode one raw event as event number `num`.

    `where(index)` names the location of parameter `index` for an error (``path:byte N``);
    without it errors say ``event N``.
    """
    decoder = _decoder(raw.type, order)
    blobs = raw.params
    params: dict[str, object] = {}
    names = decoder.names
    converters = decoder.converters
    specs = decoder.specs
    index = 0
    try:
        for index, blob in enumerate(blobs[: len(names)]):
            if blob:
                params[names[index]] = converters[index](blob)
            elif decoder.empty[index] is not _ABSENT:
                params[names[index]] = decoder.empty[index]
    except (struct.error, ValueError, IndexError, _Malformed) as exc:
        raise _param_error(raw, num, decoder, index, exc, where) from None
    if len(blobs) != len(names):
        specs = _specs_for_count(raw.type, decoder, len(blobs))
        for extra in range(len(names), len(blobs)):
            params[f"arg{extra}"] = blobs[extra]
    name = decoder.name
    if decoder.generic:
        code = params.get("ID")
        name = SYSCALL_NAMES[code] if isinstance(code, int) and code < len(SYSCALL_NAMES) else name
    res = None
    if decoder.has_res:
        value = params.get(names[0])
        if isinstance(value, int):
            bits = decoder.res_bits
            res = value - (1 << bits) if bits and value >= 1 << (bits - 1) else value
    return Event(
        num=num,
        ts=raw.ts,
        cpu=raw.cpu,
        tid=raw.tid,
        pid=0,
        type=name,
        dir=decoder.dir,
        category=decoder.category,
        params=params,
        specs=specs,
        res=res,
    )


def _param_error(
    raw: RawEvent,
    num: int,
    decoder: _Decoder,
    index: int,
    exc: Exception,
    where: Callable[[int], str] | None,
) -> ScapFormatError:
    name = decoder.names[index]
    spec = decoder.specs.get(name)
    ptype = spec.type if spec else "?"
    detail = str(exc) if isinstance(exc, _Malformed) else f"{len(raw.params[index])} bytes"
    return ScapFormatError(
        f"event {num} ({decoder.name}, code {raw.type}): parameter {index} '{name}' "
        f"is not a valid {ptype}: {detail}",
        where=where(index) if where else f"event {num}",
        hint="the capture is corrupt, or was written by a libscap whose event table differs",
    )


def iter_events(scap: ScapFile) -> Iterator[Event]:
    """Every event of `scap` as a typed `Event`, numbered from 1 like Falco's ``evt.num``."""
    data = scap.data
    order = ">" if scap.header.big_endian else "<"
    offset = 0
    num = 0
    for block in scap.blocks():
        at = offset
        if isinstance(block, SectionHeader):
            order = ">" if block.big_endian else "<"
        offset += struct.unpack_from(order + "I", data, at + 4)[0]
        if not isinstance(block, RawEvent):
            continue
        num += 1
        try:
            yield decode_event(block, num, order=order)
        except ScapFormatError:
            # Decode again with the byte offsets worked out: only on the error path.
            yield decode_event(
                block, num, order=order, where=_locator(scap, at, order, block.params)
            )


def _locator(
    scap: ScapFile, block_at: int, order: str, params: tuple[bytes, ...]
) -> Callable[[int], str]:
    """Where parameter `index` of the event block at `block_at` starts in the capture."""
    data = scap.data
    (btype,) = struct.unpack_from(order + "I", data, block_at)
    with_flags = btype in (0x208, 0x217, 0x222)
    header = 22 if btype in (0x204, 0x208, 0x8010ABCD) else 26
    width = 4 if btype in (0x221, 0x222) else 2
    start = block_at + 8 + 2 + (4 if with_flags else 0) + header + width * len(params)

    def where(index: int) -> str:
        return f"{scap.path}:byte {start + sum(len(p) for p in params[:index])}"

    return where
