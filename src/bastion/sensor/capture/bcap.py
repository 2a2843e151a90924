"""bastion's own capture format (``.bcap``): the live probe's exact records, with what they need.

A `.scap` file stores libscap's events; a bcap stores *our* probe's ring-buffer records byte
for byte (what `Probe.read_raw()` returns), so `bastion events -r` decodes them with the very
decoder the live path uses, and a capture taken today replays exactly as it was seen. A record
only means something against the event table that produced it, hence the fingerprint.

Layout (all integers little-endian)::

    file    := MAGIC (8 bytes: 89 'B' 'S' 'T' 'C' 'A' 'P' 0a) VERSION (u32) block*
    block   := kind (4 ASCII bytes) length (u32) crc32 (u32, zlib's, of the payload) payload
    HEAD    := JSON (first block, exactly one): format, fingerprint, host {hostname, kernel,
               machine}, boot_time_ns, clock_offset_ns, start_ns, filter {events, cgroup_ids,
               containers, drop_failed}, ring_size, bastion (version), extra {...}
    SNAP    := JSON (second block, exactly one): {"threads": [...], "containers": [...]} -- the
               state tables when the capture started (`Thread`/`Fd`/`Container` fields by name;
               a process's fd table is stored once, on its main thread)
    RECS    := count (u32) then count x (length (u32) record bytes) -- one `read_raw()` batch
    TAIL    := JSON (last block): end_ns, records, batches, statistics {produced,
               dropped_ring_full, skipped_syscall, skipped_cgroup, skipped_failed, read, ...}

Why this shape: a block kind plus length lets a reader skip what it does not know and stop at
the exact byte where a file was cut; the CRC makes a flipped bit an error with an offset rather
than a wrong event; JSON for the three metadata blocks keeps them readable and extensible
(unknown keys are kept in `extra`), while records stay binary because there are millions.
The fingerprint (`schema_fingerprint`) hashes every event code, name and parameter type of
`events/schema.py`: a reader refuses a file written against another table (`bcap-event-table`).
A file may be gzip-compressed as a whole (``--gzip``, or a name ending in ``.gz``); the reader
detects gzip by its magic, and offsets in errors are then offsets in the uncompressed stream.
A file without TAIL was cut (the writer was killed): every complete batch is still readable,
and the reader raises `BcapCorruptError` at the cut, after the batches before it.

Over 500 lines on purpose: the layout, its writer, its reader and the snapshot's JSON form are
one contract that changes together (a field added to one must be read by the other); the
snapshot part would be the first to move out if it grows.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import ipaddress
import os
import struct
import time
import zlib
from collections.abc import Iterable, Iterator
from typing import IO, Any, TypeAlias

from bastion import jsonio
from bastion.errors import BastionError
from bastion.sensor.events.schema import EVENTS, EventSpec
from bastion.sensor.state.model import Container, ContainerMount, Fd, Thread

MAGIC = b"\x89BSTCAP\n"
FORMAT_VERSION = 1
_PRELUDE = struct.Struct("<8sI")
_BLOCK = struct.Struct("<4sII")
_U32 = struct.Struct("<I")
# A corrupt length must not make the reader allocate gigabytes; the writer splits batches so
# no block comes near this.
MAX_BLOCK = 64 << 20
_GZIP_MAGIC = b"\x1f\x8b"

HEAD, SNAP, RECS, TAIL = b"HEAD", b"SNAP", b"RECS", b"TAIL"


class BcapError(BastionError):
    """Raised for a bastion capture that cannot be read: not a bcap file, or unreadable."""

    reference = "bcap-unreadable"


class BcapCorruptError(BcapError):
    """Raised when a bcap file is truncated or corrupt; `where` is ``path:byte N``."""

    reference = "bcap-corrupt"


class BcapVersionError(BcapError):
    """Raised for a bcap file written in a format version this reader does not know."""

    reference = "bcap-version"


class BcapFingerprintError(BcapError):
    """Raised when a capture was written against another event table than this bastion's."""

    reference = "bcap-event-table"


def schema_fingerprint(events: Iterable[EventSpec] = EVENTS) -> str:
    """A short hash of every event's code, name and parameter types, in order."""
    digest = hashlib.sha256()
    for spec in events:
        types = ",".join(p.type for p in spec.params)
        digest.update(f"{spec.code}:{spec.name}:{types};".encode())
    return digest.hexdigest()[:16]


Json: TypeAlias = "bool | int | float | str | list[Json] | dict[str, Json] | None"
JsonDoc: TypeAlias = "dict[str, Json]"
"""A metadata block's JSON object, as `jsonio` reads and writes it."""


def _doc(value: Json) -> JsonDoc:
    """`value` if it is a JSON object (an absent one reads as empty), else TypeError."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"expected a JSON object, got {value!r}")
    return value


def _mount_from_dict(item: dict[str, Json]) -> ContainerMount:
    return ContainerMount(
        source=str(item.get("source", "")),
        dest=str(item.get("dest", "")),
        mode=str(item.get("mode", "")),
        rdwr=item.get("rdwr") is True,
        propagation=str(item.get("propagation", "")),
    )


def _items(value: Json) -> list[Json]:
    """`value` if it is a JSON array (an absent one reads as empty), else TypeError."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise TypeError(f"expected a JSON array, got {value!r}")
    return value


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class BcapHeader:
    """The HEAD block: what produced the records, and how to turn their clocks into wall time.

    `clock_offset_ns` is wall clock minus CLOCK_MONOTONIC at the start (what a decoder adds to
    ``bpf_ktime_get_ns``); `boot_time_ns` is the wall time of boot (for CLOCK_BOOTTIME stamps).
    """

    fingerprint: str
    start_ns: int
    clock_offset_ns: int
    boot_time_ns: int
    hostname: str = ""
    kernel: str = ""
    machine: str = ""
    events: tuple[str, ...] = ()
    cgroup_ids: tuple[int, ...] | None = None
    containers: tuple[str, ...] = ()
    drop_failed: bool = False
    ring_size: int = 0
    bastion: str = ""
    format: int = FORMAT_VERSION
    extra: JsonDoc = dataclasses.field(default_factory=dict)

    @classmethod
    def now(cls, **kwargs: Any) -> BcapHeader:
        """A header for a capture starting now on this host, with this table's fingerprint."""
        from bastion import __version__

        uname = os.uname()
        wall = time.time_ns()
        mono = time.monotonic_ns()
        boot = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        base = cls(
            fingerprint=schema_fingerprint(),
            start_ns=wall,
            clock_offset_ns=wall - mono,
            boot_time_ns=wall - boot,
            hostname=uname.nodename,
            kernel=uname.release,
            machine=uname.machine,
            bastion=__version__,
        )
        return dataclasses.replace(base, **kwargs)

    def to_dict(self) -> JsonDoc:
        return {
            "format": self.format,
            "fingerprint": self.fingerprint,
            "host": {"hostname": self.hostname, "kernel": self.kernel, "machine": self.machine},
            "boot_time_ns": self.boot_time_ns,
            "clock_offset_ns": self.clock_offset_ns,
            "start_ns": self.start_ns,
            "filter": {
                "events": list(self.events),
                "cgroup_ids": None if self.cgroup_ids is None else list(self.cgroup_ids),
                "containers": list(self.containers),
                "drop_failed": self.drop_failed,
            },
            "ring_size": self.ring_size,
            "bastion": self.bastion,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, doc: JsonDoc) -> BcapHeader:
        host = _doc(doc.get("host"))
        filt = _doc(doc.get("filter"))
        cgroups = filt.get("cgroup_ids")
        return cls(
            format=_int(doc["format"]),
            fingerprint=str(doc["fingerprint"]),
            start_ns=_int(doc["start_ns"]),
            clock_offset_ns=_int(doc["clock_offset_ns"]),
            boot_time_ns=_int(doc["boot_time_ns"]),
            hostname=str(host.get("hostname", "")),
            kernel=str(host.get("kernel", "")),
            machine=str(host.get("machine", "")),
            events=tuple(str(e) for e in _items(filt.get("events"))),
            cgroup_ids=None if cgroups is None else tuple(_int(i) for i in _items(cgroups)),
            containers=tuple(str(c) for c in _items(filt.get("containers"))),
            drop_failed=bool(filt.get("drop_failed", False)),
            ring_size=_int(doc.get("ring_size", 0)),
            bastion=str(doc.get("bastion", "")),
            extra=dict(_doc(doc.get("extra"))),
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class BcapTrailer:
    """The TAIL block: how the capture ended and what the probe lost (`statistics`)."""

    end_ns: int
    records: int
    batches: int
    statistics: dict[str, int | float]

    def to_dict(self) -> JsonDoc:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, doc: JsonDoc) -> BcapTrailer:
        stats = _doc(doc.get("statistics"))
        return cls(
            end_ns=_int(doc["end_ns"]),
            records=_int(doc["records"]),
            batches=_int(doc["batches"]),
            statistics={str(k): _number(v) for k, v in stats.items()},
        )


@dataclasses.dataclass(slots=True)
class Snapshot:
    """The SNAP block: the state tables' threads (with fds) and containers at the start."""

    threads: list[Thread] = dataclasses.field(default_factory=list)
    containers: list[Container] = dataclasses.field(default_factory=list)


def _int(value: Json) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _number(value: Json) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {value!r}")
    return value


# --- snapshot <-> JSON ---------------------------------------------------------------------

_IP_FIELDS = frozenset({"client", "server"})
_TUPLE_FIELDS = frozenset({"args", "env"})


def _fd_to_dict(fd: Fd) -> JsonDoc:
    doc = {f.name: getattr(fd, f.name) for f in dataclasses.fields(fd)}
    for name in _IP_FIELDS:
        if doc[name] is not None:
            doc[name] = str(doc[name])
    return doc


def _fd_from_dict(doc: JsonDoc) -> Fd:
    values: dict[str, Any] = dict(doc)  # Fd's fields by name; Fd checks nothing, we check less
    for name in _IP_FIELDS:
        if values.get(name) is not None:
            values[name] = ipaddress.ip_address(values[name])
    return Fd(**values)


def _thread_to_dict(thread: Thread, with_fds: bool) -> JsonDoc:
    doc = {f.name: getattr(thread, f.name) for f in dataclasses.fields(thread) if f.name != "fds"}
    doc["args"] = list(thread.args)
    doc["env"] = list(thread.env)
    doc["cgroups"] = [list(pair) for pair in thread.cgroups]
    if with_fds:
        doc["fds"] = [_fd_to_dict(fd) for fd in thread.fds.values()]
    return doc


def _thread_from_dict(doc: JsonDoc) -> Thread:
    values: dict[str, Any] = {k: v for k, v in doc.items() if k != "fds"}  # Thread's fields
    for name in _TUPLE_FIELDS:
        values[name] = tuple(str(v) for v in _items(values.get(name)))
    pairs = (_items(pair) for pair in _items(values.get("cgroups")))
    values["cgroups"] = tuple((str(c), str(p)) for c, p in pairs)
    thread = Thread(**values)
    if not isinstance(thread.tid, int) or not isinstance(thread.pid, int):
        raise TypeError("tid and pid must be integers")
    return thread


def snapshot_to_dict(snapshot: Snapshot) -> JsonDoc:
    """JSON-ready form; fd tables shared by a process's threads are written once."""
    written: set[int] = set()
    threads: list[Json] = []
    for thread in sorted(snapshot.threads, key=lambda t: (t.pid, t.tid != t.pid, t.tid)):
        with_fds = id(thread.fds) not in written
        written.add(id(thread.fds))
        threads.append(_thread_to_dict(thread, with_fds))
    containers: list[Json] = [
        {f.name: getattr(c, f.name) for f in dataclasses.fields(c)} for c in snapshot.containers
    ]
    return {"threads": threads, "containers": containers}


def snapshot_from_dict(doc: JsonDoc) -> Snapshot:
    """Rebuild threads (sharing one fd dict per process, as the live tables do) and containers."""
    by_pid: dict[int, dict[int, Fd]] = {}
    threads = []
    for entry in _items(doc["threads"]):
        item = _doc(entry)
        thread = _thread_from_dict(item)
        if "fds" in item:
            fds = (_fd_from_dict(_doc(fd)) for fd in _items(item["fds"]))
            thread.fds = {fd.num: fd for fd in fds}
            by_pid.setdefault(thread.pid, thread.fds)
        else:
            thread.fds = by_pid.setdefault(thread.pid, {})
        threads.append(thread)
    containers = []
    for entry in _items(doc["containers"]):
        values: dict[str, Any] = dict(_doc(entry))  # Container's fields by name
        values["labels"] = {str(k): str(v) for k, v in _doc(values.get("labels")).items()}
        values["mounts"] = tuple(_mount_from_dict(_doc(m)) for m in _items(values.get("mounts")))
        containers.append(Container(**values))
    return Snapshot(threads=threads, containers=containers)


# --- writer --------------------------------------------------------------------------------


def _block(kind: bytes, payload: bytes) -> bytes:
    return _BLOCK.pack(kind, len(payload), zlib.crc32(payload)) + payload


def _json_block(kind: bytes, doc: JsonDoc) -> bytes:
    return _block(kind, jsonio.dumps(doc).encode())


class BcapWriter:
    """Write a capture: `BcapWriter(path, header, snapshot)`, `write_batch()`, `close(stats)`.

    HEAD and SNAP are written at once, so a capture cut short still says what it is. Each
    batch is one RECS block (split when it would exceed `MAX_BLOCK`), flushed to the kernel
    every `flush_every` batches so a killed writer loses little.
    """

    def __init__(
        self,
        path: str,
        header: BcapHeader,
        snapshot: Snapshot | None = None,
        *,
        compress: bool | None = None,
        flush_every: int = 16,
    ) -> None:
        self.path = path
        self.records = 0
        self.batches = 0
        self._flush_every = flush_every
        gz = path.endswith(".gz") if compress is None else compress
        raw: IO[bytes] = open(path, "wb")  # noqa: SIM115 -- closed in close()
        try:
            self._out: gzip.GzipFile | IO[bytes] = (
                gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=3) if gz else raw
            )
            self._raw = raw
            self._out.write(_PRELUDE.pack(MAGIC, FORMAT_VERSION))
            self._out.write(_json_block(HEAD, header.to_dict()))
            self._out.write(_json_block(SNAP, snapshot_to_dict(snapshot or Snapshot())))
        except BaseException:
            raw.close()
            raise
        self._closed = False

    def write_batch(self, records: list[bytes]) -> None:
        """Append one batch of raw probe records (nothing is written for an empty batch)."""
        start = 0
        while start < len(records):
            parts = [b""]
            size = 4
            end = start
            while end < len(records) and (
                end == start or size + 4 + len(records[end]) <= MAX_BLOCK
            ):
                rec = records[end]
                parts.append(_U32.pack(len(rec)))
                parts.append(rec)
                size += 4 + len(rec)
                end += 1
            parts[0] = _U32.pack(end - start)
            self._out.write(_block(RECS, b"".join(parts)))
            self.records += end - start
            self.batches += 1
            start = end
            if self.batches % self._flush_every == 0:
                self._out.flush()

    def close(self, statistics: dict[str, int | float] | None = None) -> BcapTrailer:
        """Write the trailer with the probe's final counters and close the file."""
        trailer = BcapTrailer(
            end_ns=time.time_ns(),
            records=self.records,
            batches=self.batches,
            statistics=dict(statistics or {}),
        )
        if not self._closed:
            self._closed = True
            try:
                self._out.write(_json_block(TAIL, trailer.to_dict()))
                self._out.close()
            finally:
                self._raw.close()
        return trailer

    def __enter__(self) -> BcapWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._closed:
            self.close()


# --- reader --------------------------------------------------------------------------------


class BcapReader:
    """Read a capture: header and snapshot at open, then `batches()`, then `trailer`.

    `expect_fingerprint` (this bastion's table by default; None accepts any) is checked before
    anything else is read. Every failure is a `BcapError` subclass naming the byte offset.
    """

    def __init__(self, path: str, *, expect_fingerprint: str | None = "") -> None:
        self.path = path
        self.trailer: BcapTrailer | None = None
        self._pos = 0
        try:
            raw: IO[bytes] = open(path, "rb")  # noqa: SIM115 -- closed in close()
        except OSError as exc:
            raise BcapError(
                f"cannot open the capture: {exc.strerror}",
                where=path,
                hint="give the path of a file written by `bastion capture -w`",
            ) from None
        self._raw = raw
        try:
            self._in = self._open_stream(raw)
            self._read_prelude()
            self.header = self._read_header(
                schema_fingerprint() if expect_fingerprint == "" else expect_fingerprint
            )
            self.snapshot = self._read_snapshot()
        except BaseException:
            raw.close()
            raise

    def _open_stream(self, raw: IO[bytes]) -> gzip.GzipFile | IO[bytes]:
        first = raw.read(2)
        raw.seek(0)
        if first == _GZIP_MAGIC:
            return gzip.GzipFile(fileobj=raw, mode="rb")
        return raw

    def close(self) -> None:
        self._in.close()
        self._raw.close()

    def __enter__(self) -> BcapReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- low level --

    def _corrupt(self, message: str, at: int | None = None) -> BcapCorruptError:
        return BcapCorruptError(
            message,
            where=f"{self.path}:byte {self._pos if at is None else at}",
            hint="the capture is truncated or damaged; the events before this offset are intact",
        )

    def _read(self, size: int, what: str) -> bytes:
        try:
            data = self._in.read(size)
        except (OSError, EOFError, zlib.error) as exc:  # gzip: bad CRC, cut stream, bad data
            raise self._corrupt(f"{what}: the gzip stream is damaged ({exc})") from None
        if len(data) != size:
            raise self._corrupt(f"{what}: the file ends after {len(data)} of {size} bytes")
        self._pos += size
        return data

    def _read_prelude(self) -> None:
        data = self._read(_PRELUDE.size, "file header")
        magic, version = _PRELUDE.unpack(data)
        if magic != MAGIC:
            raise BcapError(
                "not a bastion capture (bad magic)",
                where=f"{self.path}:byte 0",
                hint="`bastion events -r` reads bastion captures (.bcap) and .scap files",
            )
        if version != FORMAT_VERSION:
            raise BcapVersionError(
                f"capture format version {version}; this bastion reads version {FORMAT_VERSION}",
                where=f"{self.path}:byte 8",
                hint="read it with the bastion version that wrote it",
            )

    def _next_block(self) -> tuple[bytes, bytes, int] | None:
        """(kind, payload, offset) of the next block; None at a clean end of file."""
        at = self._pos
        try:
            head = self._in.read(_BLOCK.size)
        except (OSError, EOFError, zlib.error) as exc:
            raise self._corrupt(f"block header: the gzip stream is damaged ({exc})") from None
        if not head:
            return None
        if len(head) != _BLOCK.size:
            raise self._corrupt(f"block header: the file ends after {len(head)} bytes")
        self._pos += _BLOCK.size
        kind, length, crc = _BLOCK.unpack(head)
        if kind not in (HEAD, SNAP, RECS, TAIL):
            raise self._corrupt(f"unknown block kind {kind!r}", at)
        if length > MAX_BLOCK:
            raise self._corrupt(f"{kind.decode()} block of {length} bytes (limit {MAX_BLOCK})", at)
        payload = self._read(length, f"{kind.decode()} block")
        if zlib.crc32(payload) != crc:
            raise self._corrupt(f"{kind.decode()} block: checksum mismatch", at)
        return kind, payload, at

    def _expect(self, kind: bytes) -> tuple[JsonDoc, int]:
        block = self._next_block()
        if block is None:
            raise self._corrupt(f"the file ends before its {kind.decode()} block")
        got, payload, at = block
        if got != kind:
            raise self._corrupt(f"expected a {kind.decode()} block, found {got.decode()}", at)
        try:
            doc = jsonio.loads(payload)
        except (ValueError, UnicodeDecodeError) as exc:
            raise self._corrupt(f"{kind.decode()} block: bad JSON ({exc})", at) from None
        if not isinstance(doc, dict):
            raise self._corrupt(f"{kind.decode()} block: expected a JSON object", at)
        return doc, at

    def _read_header(self, expect: str | None) -> BcapHeader:
        doc, at = self._expect(HEAD)
        try:
            header = BcapHeader.from_dict(doc)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self._corrupt(f"HEAD block: bad field ({exc})", at) from None
        if expect is not None and header.fingerprint != expect:
            raise BcapFingerprintError(
                f"the capture's event table ({header.fingerprint}) is not this bastion's "
                f"({expect}): its records would decode wrongly",
                where=f"{self.path}:byte {at}",
                hint=f"read it with the bastion that wrote it (version {header.bastion or '?'})",
            )
        return header

    def _read_snapshot(self) -> Snapshot:
        doc, at = self._expect(SNAP)
        try:
            return snapshot_from_dict(doc)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self._corrupt(f"SNAP block: bad field ({exc})", at) from None

    # -- records --

    def batches(self) -> Iterator[list[bytes]]:
        """Each RECS block's records, in order; then the trailer is read into `trailer`."""
        while True:
            block = self._next_block()
            if block is None:
                raise self._corrupt("the file ends without its trailer (the capture was cut)")
            kind, payload, at = block
            if kind == RECS:
                yield self._split(payload, at)
            elif kind == TAIL:
                self._read_trailer(payload, at)
                # gzip checks its CRC and length only at the end of the stream: read to it
                try:
                    extra = self._in.read(1)
                except (OSError, EOFError, zlib.error) as exc:
                    raise self._corrupt(f"the gzip stream is damaged ({exc})") from None
                if extra:
                    raise self._corrupt("data after the trailer")
                return
            else:
                raise self._corrupt(f"unexpected {kind.decode()} block among the records", at)

    def records(self) -> Iterator[bytes]:
        for batch in self.batches():
            yield from batch

    def _split(self, payload: bytes, at: int) -> list[bytes]:
        body = at + _BLOCK.size
        if len(payload) < 4:
            raise self._corrupt("RECS block: no record count", body)
        (count,) = _U32.unpack_from(payload, 0)
        out: list[bytes] = []
        pos, end = 4, len(payload)
        unpack = _U32.unpack_from
        for _ in range(count):
            if pos + 4 > end:
                raise self._corrupt(f"RECS block: record {len(out)} has no length", body + pos)
            (size,) = unpack(payload, pos)
            pos += 4
            if pos + size > end:
                raise self._corrupt(f"RECS block: record {len(out)} overruns the block", body + pos)
            out.append(payload[pos : pos + size])
            pos += size
        if pos != end:
            raise self._corrupt(f"RECS block: {end - pos} bytes after {count} records", body + pos)
        return out

    def _read_trailer(self, payload: bytes, at: int) -> None:
        try:
            doc = jsonio.loads(payload)
            if not isinstance(doc, dict):
                raise TypeError("expected a JSON object")
            self.trailer = BcapTrailer.from_dict(doc)
        except (KeyError, TypeError, ValueError, AttributeError, UnicodeDecodeError) as exc:
            raise self._corrupt(f"TAIL block: bad trailer ({exc})", at) from None


def is_bcap(path: str) -> bool:
    """True if `path` starts like a bastion capture (plain or gzip-compressed)."""
    try:
        with open(path, "rb") as f:
            first = f.read(len(MAGIC))
            if first[:2] == _GZIP_MAGIC:
                f.seek(0)
                with gzip.GzipFile(fileobj=f, mode="rb") as gz:
                    first = gz.read(len(MAGIC))
    except (OSError, EOFError, zlib.error):
        return False
    return first == MAGIC
