"""The block layer of the .scap capture reader (Falco/sysdig capture files).

A capture is a pcapng-like sequence of blocks ``type:u32 total_length:u32 body... total_length:u32``
(falcosecurity/libs `scap_savefile.h`), usually gzip-compressed. `open_scap` reads the whole file
(they are small), gunzips it and checks the section header; `ScapFile.blocks()` then decodes
block after block, `ScapFile.events()` yields only the events as `RawEvent` (parameters left as
bytes: typed decoding belongs to the event table), and `ScapFile.stats()` counts everything.

Every length is checked against what is left, so a truncated or corrupt file raises
`ScapFormatError` (reference "scap-corrupt", ``where="path:byte N"``, N counted in the
decompressed stream, the message saying "corrupt at byte N") and never `struct.error`,
`IndexError` or a hang; blocks before the damage are yielded first, as sysdig replays the
events before it. When the gzip layer is what broke (a cut or damaged compressed file), the
error says so rather than blaming the block the decompressed data stops in. A file that does
not start with a section header is not a capture at all: `NotScapError`.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

from bastion.sensor.capture.scap_blocks import (
    Cursor,
    FdInfo,
    Group,
    Interface,
    MachineInfo,
    NotScapError,
    ScapFormatError,
    ThreadInfo,
    User,
    read_fds,
    read_interfaces,
    read_machine_info,
    read_threads,
    read_users,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

SHB_BLOCK_TYPE = 0x0A0D0D0A
SHB_MAGIC = 0x1A2B3C4D

# The block table: type number -> (name, kind, version). Kinds: machine, process, fd, event,
# interface, user. The *_INT numbers are the pre-release ones libscap still accepts.
BLOCK_TYPES: dict[int, tuple[str, str, int]] = {
    0x201: ("MI", "machine", 1),
    0x8002ABCD: ("MI_INT", "machine", 1),
    0x202: ("PL_V1", "process", 1),
    0x8000ABCD: ("PL_V1_INT", "process", 1),
    0x207: ("PL_V2", "process", 2),
    0x8013ABCD: ("PL_V2_INT", "process", 2),
    0x209: ("PL_V3", "process", 3),
    0x8014ABCD: ("PL_V3_INT", "process", 3),
    0x210: ("PL_V4", "process", 4),
    0x211: ("PL_V5", "process", 5),
    0x212: ("PL_V6", "process", 6),
    0x213: ("PL_V7", "process", 7),
    0x214: ("PL_V8", "process", 8),
    0x215: ("PL_V9", "process", 9),
    0x203: ("FDL", "fd", 1),
    0x8001ABCD: ("FDL_INT", "fd", 1),
    0x218: ("FDL_V2", "fd", 2),
    0x204: ("EV", "event", 1),
    0x8010ABCD: ("EV_INT", "event", 1),
    0x216: ("EV_V2", "event", 2),
    0x221: ("EV_V2_LARGE", "event", 3),
    0x208: ("EVF", "event", 1),
    0x217: ("EVF_V2", "event", 2),
    0x222: ("EVF_V2_LARGE", "event", 3),
    0x205: ("IL", "interface", 1),
    0x8011ABCD: ("IL_INT", "interface", 1),
    0x219: ("IL_V2", "interface", 2),
    0x206: ("UL", "user", 1),
    0x8012ABCD: ("UL_INT", "user", 1),
    0x220: ("UL_V2", "user", 2),
}
_EVF_TYPES = frozenset({0x208, 0x217, 0x222})
_V1_EVENT_HEADER = 22  # ts u64, tid u64, len u32, type u16
_V2_EVENT_HEADER = 26  # ... nparams u32


@dataclass(frozen=True, slots=True)
class RawEvent:
    """One event with its parameters still raw; `flags` is 0 unless the block carries them."""

    ts: int
    tid: int
    cpu: int
    type: int
    flags: int
    params: tuple[bytes, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SectionHeader:
    offset: int
    major: int
    minor: int
    section_length: int
    big_endian: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class InterfaceList:
    offset: int
    interfaces: tuple[Interface, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class UserList:
    offset: int
    users: tuple[User, ...]
    groups: tuple[Group, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessList:
    offset: int
    version: int
    threads: tuple[ThreadInfo, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class FdList:
    offset: int
    version: int
    tid: int
    fds: tuple[FdInfo, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownBlock:
    """A block type this reader does not know; libscap skips those too."""

    offset: int
    type: int
    body: bytes


Block = (
    SectionHeader
    | MachineInfo
    | InterfaceList
    | UserList
    | ProcessList
    | FdList
    | RawEvent
    | UnknownBlock
)


@dataclass(slots=True)
class ScapStats:
    """What a full pass over a capture found; `blocks` counts by block name (see BLOCK_TYPES)."""

    blocks: Counter[str] = field(default_factory=Counter)
    events: int = 0
    processes: int = 0
    fds: int = 0
    users: int = 0
    groups: int = 0
    interfaces: int = 0
    first_ts: int | None = None
    last_ts: int | None = None


def _block_name(btype: int) -> str:
    if btype == SHB_BLOCK_TYPE:
        return "SHB"
    known = BLOCK_TYPES.get(btype)
    return known[0] if known else f"0x{btype:x}"


class ScapFile:
    """A capture held in memory; iterate it with `blocks()`, `events()` or summarise `stats()`."""

    def __init__(self, data: bytes, path: str, gzip_error: str | None = None) -> None:
        self.data = data
        self.path = path
        self._gzip_error = gzip_error
        self.header = self._section_header(0)

    def _error(self, message: str, offset: int) -> ScapFormatError:
        return ScapFormatError(
            f"corrupt at byte {offset}: {message}",
            where=f"{self.path}:byte {offset}",
            hint="the capture is truncated or corrupt; re-capture or re-download it",
        )

    def _gzip_damage(self, inner: ScapFormatError | None) -> ScapFormatError:
        size = len(self.data)
        cut = f" (the capture inside stops there: {inner.message})" if inner else ""
        return ScapFormatError(
            f"the gzip layer is damaged ({self._gzip_error}): its data ends after byte {size} "
            f"of the decompressed capture{cut}",
            where=f"{self.path}:byte {size}",
            hint="the compressed file is truncated or corrupt; re-capture or re-download it",
        )

    def _section_header(self, offset: int) -> SectionHeader:
        data = self.data
        if offset == 0 and data[:4] != struct.pack("<I", SHB_BLOCK_TYPE)[: len(data[:4])]:
            raise NotScapError(
                "not a .scap capture: it does not start with a section header block",
                where=f"{self.path}:byte 0",
            )
        if len(data) - offset < 28:
            if offset == 0 and self._gzip_error:
                raise self._gzip_damage(None)
            raise self._error(f"section header block needs 28 bytes, file has {len(data)}", offset)
        (btype,) = struct.unpack_from("<I", data, offset)
        if btype != SHB_BLOCK_TYPE:
            raise self._error(f"expected a section header block, found type 0x{btype:x}", offset)
        (magic,) = struct.unpack_from("<I", data, offset + 8)
        if magic == SHB_MAGIC:
            order = "<"
        elif magic == 0x4D3C2B1A:
            order = ">"
        else:
            raise self._error(f"bad byte-order magic 0x{magic:08x}", offset + 8)
        major, minor, length = struct.unpack_from(order + "HHq", data, offset + 12)
        if major != 1:
            raise self._error(f"unsupported capture format version {major}.{minor}", offset + 12)
        return SectionHeader(
            offset=offset, major=major, minor=minor, section_length=length, big_endian=order == ">"
        )

    def blocks(self) -> Iterator[Block]:
        """Decode every block in file order; raise ScapFormatError at the first bad one."""
        for _, block in self._walk():
            yield block

    def _walk(self) -> Iterator[tuple[str, Block]]:
        """(block name, decoded block) pairs; the names are those of BLOCK_TYPES, or "SHB"."""
        try:
            yield from self._walk_blocks()
        except ScapFormatError as exc:
            if self._gzip_error:
                raise self._gzip_damage(exc) from exc
            raise
        if self._gzip_error:
            raise self._gzip_damage(None)

    def _walk_blocks(self) -> Iterator[tuple[str, Block]]:
        data, size, offset = self.data, len(self.data), 0
        order = ">" if self.header.big_endian else "<"
        while offset < size:
            if size - offset < 8:
                raise self._error(f"block header needs 8 bytes, {size - offset} left", offset)
            (btype,) = struct.unpack_from(order + "I", data, offset)
            header = None
            if btype == SHB_BLOCK_TYPE:  # a new section may switch the byte order
                header = self._section_header(offset)
                order = ">" if header.big_endian else "<"
            (total,) = struct.unpack_from(order + "I", data, offset + 4)
            name = _block_name(btype)
            if total < (28 if header else 12) or total % 4:
                raise self._error(f"{name} block has an invalid total length {total}", offset + 4)
            if total > size - offset:
                raise self._error(
                    f"{name} block declares {total} bytes, only {size - offset} left", offset + 4
                )
            (trailer,) = struct.unpack_from(order + "I", data, offset + total - 4)
            if trailer != total:
                raise self._error(
                    f"{name} block trailer says {trailer} bytes, header says {total}",
                    offset + total - 4,
                )
            cur = Cursor(data, offset + 8, offset + total - 4, order, self.path, f"{name} block")
            yield name, header if header else self._decode(btype, offset, cur)
            offset += total

    def _decode(self, btype: int, offset: int, cur: Cursor) -> Block:
        known = BLOCK_TYPES.get(btype)
        if known is None:
            return UnknownBlock(offset=offset, type=btype, body=cur.raw(cur.left, "body"))
        _, kind, version = known
        if kind == "event":
            return _read_event(cur, version, btype in _EVF_TYPES)
        if kind == "process":
            return ProcessList(offset=offset, version=version, threads=read_threads(cur, version))
        if kind == "fd":
            tid, fds = read_fds(cur, version == 2)
            return FdList(offset=offset, version=version, tid=tid, fds=fds)
        if kind == "user":
            users, groups = read_users(cur, version == 2)
            return UserList(offset=offset, users=users, groups=groups)
        if kind == "interface":
            return InterfaceList(offset=offset, interfaces=read_interfaces(cur, version == 2))
        return read_machine_info(cur)

    def events(self) -> Iterator[RawEvent]:
        for block in self.blocks():
            if isinstance(block, RawEvent):
                yield block

    def stats(self) -> ScapStats:
        """Count blocks by name, events, processes, fds, users and interfaces in one pass."""
        stats = ScapStats()
        for name, block in self._walk():
            stats.blocks[name] += 1
            if isinstance(block, RawEvent):
                stats.events += 1
                if stats.first_ts is None:
                    stats.first_ts = block.ts
                stats.last_ts = block.ts
            elif isinstance(block, ProcessList):
                stats.processes += len(block.threads)
            elif isinstance(block, FdList):
                stats.fds += len(block.fds)
            elif isinstance(block, UserList):
                stats.users += len(block.users)
                stats.groups += len(block.groups)
            elif isinstance(block, InterfaceList):
                stats.interfaces += len(block.interfaces)
        return stats


def _read_event(cur: Cursor, version: int, with_flags: bool) -> RawEvent:
    cpu = cur.uint("H", "cpu id")
    flags = cur.uint("I", "flags") if with_flags else 0
    start = cur.pos
    if version == 1:
        ts, tid, length, etype = cur.unpack("QQIH", "event header")
        header = _V1_EVENT_HEADER
        nparams = -1
    else:
        ts, tid, length, etype, nparams = cur.unpack("QQIHI", "event header")
        header = _V2_EVENT_HEADER
    if length < header or length > cur.end - start:
        raise cur.error(f"event length {length} outside {header}..{cur.end - start}", start + 16)
    end = start + length
    width = 4 if version == 3 else 2
    if nparams < 0:
        nparams = _infer_nparams(cur, start + header, end)
    elif nparams * width > end - cur.pos:
        raise cur.error(f"{nparams} parameter lengths do not fit in the event", start + 22)
    lens = struct.unpack_from(
        f"{cur.order}{nparams}{'I' if width == 4 else 'H'}", cur.data, cur.pos
    )
    pos = cur.pos + nparams * width
    params = []
    for index, size in enumerate(lens):
        if size > end - pos:
            raise cur.error(f"parameter {index} declares {size} bytes, {end - pos} left", pos)
        params.append(cur.data[pos : pos + size])
        pos += size
    cur.pos = end
    return RawEvent(ts=ts, tid=tid, cpu=cpu, type=etype, flags=flags, params=tuple(params))


def _infer_nparams(cur: Cursor, lens_at: int, end: int) -> int:
    """Old (V1) events lack nparams: find the one count whose lengths exactly fill the event.

    With n lengths the event spans 2n + sum(lens[:n]) bytes, which grows strictly with n, so at
    most one n fits; no event table is needed (libscap starts from the table's count instead).
    """
    data, fmt, n, used = cur.data, cur.order + "H", 0, 0
    while True:
        if lens_at + 2 * n + used == end:
            return n
        if lens_at + 2 * (n + 1) + used > end:
            raise cur.error("parameter lengths do not add up to the event length", lens_at)
        used += struct.unpack_from(fmt, data, lens_at + 2 * n)[0]
        n += 1


def _gunzip(raw: bytes) -> tuple[bytes, str | None]:
    """Decompress every gzip member; on damage keep what came out and say what went wrong."""
    out: list[bytes] = []
    rest = raw
    while rest:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            # small steps, so what precedes a damaged spot still comes out
            for at in range(0, len(rest), 1 << 12):
                out.append(inflater.decompress(rest[at : at + (1 << 12)]))
                if inflater.eof:
                    break
        except zlib.error as exc:
            return b"".join(out), str(exc)
        if not inflater.eof:
            return b"".join(out), "compressed stream ends early"
        rest = inflater.unused_data
        if rest and rest[:2] != b"\x1f\x8b":
            break  # trailing garbage after the last member, as gzip tools ignore it
    return b"".join(out), None


def open_scap(source: str | os.PathLike[str] | BinaryIO) -> ScapFile:
    """Read a whole .scap capture (gzip-compressed or not) from a path or a binary file object."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        with open(path, "rb") as handle:
            raw = handle.read()
    else:
        path = str(getattr(source, "name", "<stream>"))
        raw = source.read()
    if raw[:2] == b"\x1f\x8b":
        data, problem = _gunzip(raw)
        return ScapFile(data, path, problem)
    return ScapFile(raw, path)
