"""The compiled decoder (probe/accel.c) against the Python one (probe/decode.py, the definition):
the same `Event`s from the same records, the same error on a broken record, and the Python path
whenever the extension is off, missing or unloadable."""

from __future__ import annotations

import random
import socket
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bastion.sensor.events.model import Event, ParamType
from bastion.sensor.events.schema import EVENTS, EventSpec
from bastion.sensor.probe import accel, ringbuf
from bastion.sensor.probe.decode import _INT_FORMATS, CPU_KILLED, HEADER, Decoder
from bastion.sensor.probe.ringbuf import BUSY_BIT, DISCARD_BIT, HEADER_SIZE

T = ParamType
EPOCH = 1_700_000_000_000_000_000
_INT_SIZES = {t: (f, struct.calcsize(f)) for t, f in _INT_FORMATS.items()}


@pytest.fixture(scope="module", autouse=True)
def built() -> str:
    """The extension, built as scripts/setup builds it (gcc and python3-dev are in the setup's
    packages: a failure here is a real one)."""
    return accel.build_accel()


def fields(event: Event) -> tuple[object, ...]:
    return tuple(getattr(event, name) for name in Event.__slots__)


def both(records: list[bytes]) -> tuple[list[Event], list[Event]]:
    python = Decoder(boot_epoch=EPOCH, accel=False)
    compiled = Decoder(boot_epoch=EPOCH, accel=True)
    assert compiled.accelerated and not python.accelerated
    return python.decode(records), compiled.decode(records)


def _text(rng: random.Random) -> bytes:
    alphabet = [b"a", b"/", b".", b" ", "é".encode(), b"\xff", b"\x80", "日".encode()]
    body = b"".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))
    return body + (b"\0" if rng.random() < 0.8 else b"")


def _sockaddr(rng: random.Random) -> bytes:
    family = rng.choice([socket.AF_INET, socket.AF_INET6, socket.AF_UNIX, 17, 0])
    head = struct.pack("<H", family)
    return (head + rng.randbytes(rng.randrange(0, 30)))[: rng.randrange(1, 33)]


def _socktuple(rng: random.Random) -> bytes:
    family = rng.choice([socket.AF_INET, socket.AF_INET6, socket.AF_UNIX, 17])
    if family == socket.AF_UNIX:
        return bytes([family]) + _text(rng) + _text(rng)
    return bytes([family]) + rng.randbytes(rng.choice([4, 12, 36, 40]))


def value(kind: str, rng: random.Random) -> bytes:
    """One parameter's bytes as the probe writes a value of this type (sometimes odd)."""
    if kind in _INT_SIZES:
        fmt, size = _INT_SIZES[kind]
        return rng.randbytes(size) if rng.random() < 0.5 else struct.pack(fmt, rng.randrange(4))
    if kind in (T.CHARBUF, T.FSPATH, T.FSRELPATH):
        return _text(rng)
    if kind == T.CHARBUFARRAY:
        return b"".join(_text(rng) for _ in range(rng.randrange(1, 4)))
    if kind == T.SOCKADDR:
        return _sockaddr(rng)
    if kind == T.SOCKTUPLE:
        return _socktuple(rng)
    return rng.randbytes(rng.randrange(1, 20))


def record(spec: EventSpec, rng: random.Random, *, cpu: int = 1) -> bytes:
    params = [b"" if rng.random() < 0.1 else value(p.type, rng) for p in spec.params]
    body = struct.pack(f"<{len(params)}H", *map(len, params)) + b"".join(params)
    size = HEADER.size + len(body)
    ret = rng.choice([0, 3, -2, 1 << 40])
    head = HEADER.pack(
        rng.randrange(1 << 50), rng.randrange(1 << 64), ret, rng.randrange(1 << 32),
        rng.randrange(1 << 32), spec.code, cpu, len(params), size,
    )  # fmt: skip
    return head + body


def test_every_event_type_decodes_alike_on_random_records() -> None:
    rng = random.Random(15)
    records = [record(spec, rng) for spec in EVENTS for _ in range(60)]
    rng.shuffle(records)
    python, compiled = both(records)
    assert len(compiled) == len(records)
    for slow, fast in zip(python, compiled, strict=True):
        assert fields(fast) == fields(slow)
        # the same kinds of objects too (a str is not a bytes, a tuple not a list)
        assert [type(v) for v in fast.params.values()] == [type(v) for v in slow.params.values()]
        assert fast.specs is slow.specs


def test_numbering_continues_across_batches_and_paths() -> None:
    rng = random.Random(4)
    decoder = Decoder(boot_epoch=EPOCH, accel=True)
    first = decoder.decode([record(EVENTS[0], rng) for _ in range(3)])
    second = decoder.decode([record(EVENTS[1], rng) for _ in range(2)])
    assert [e.num for e in first + second] == [1, 2, 3, 4, 5]
    assert decoder.next_num == 6


def test_the_kernel_kill_bit_and_buffers_that_are_not_bytes() -> None:
    rng = random.Random(7)
    spec = next(s for s in EVENTS if s.name == "execve")
    records = [record(spec, rng, cpu=3 | CPU_KILLED), record(spec, rng, cpu=3)]
    python, compiled = both([bytearray(r) for r in records])  # type: ignore[misc]
    assert [fields(e) for e in compiled] == [fields(e) for e in python]
    assert [(e.cpu, e.kernel_killed) for e in compiled] == [(3, True), (3, False)]


def _damages(good: bytes) -> Iterator[tuple[str, bytes]]:
    yield "shorter than a header", good[:39]
    yield "unknown code", good[:32] + struct.pack("<H", 65000) + good[34:]
    yield "parameter count", good[:36] + struct.pack("<H", 1) + good[38:]
    yield "size past the data", good[:38] + struct.pack("<H", len(good) + 1) + good[40:]
    yield "parameters past the size", good[:38] + struct.pack("<H", 45) + good[40:]
    yield "an integer cut short", good[:-9]
    yield "a length past the record", good[:40] + struct.pack("<H", 60000) + good[42:]


@pytest.mark.parametrize("damage", [name for name, _ in _damages(b"\0" * 64)])
def test_a_broken_record_raises_what_the_python_path_raises(damage: str) -> None:
    rng = random.Random(1)
    spec = next(s for s in EVENTS if s.name == "openat")
    good = record(spec, rng)
    broken = dict(_damages(good))[damage]
    raised: list[tuple[type[BaseException], str, int]] = []
    for wanted in (False, True):
        decoder = Decoder(boot_epoch=EPOCH, accel=wanted)
        with pytest.raises(Exception) as caught:  # whatever the Python path raises
            decoder.decode([good, broken])
        raised.append((caught.type, str(caught.value), decoder.next_num))
    assert raised[0] == raised[1]
    assert raised[1][2] == 1  # nothing of the failed batch is numbered


def test_turned_off_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(accel.ACCEL_ENV, "0")
    assert accel.load() is None
    assert not Decoder(boot_epoch=EPOCH).accelerated
    with pytest.raises(accel.AccelBuildError):
        Decoder(boot_epoch=EPOCH, accel=True)


def test_on_by_default_once_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(accel.ACCEL_ENV, raising=False)
    assert Decoder(boot_epoch=EPOCH).accelerated


@pytest.mark.parametrize(
    "prepare",
    [lambda path: None, lambda path: path.write_bytes(b"not an ELF object")],
    ids=["missing", "unloadable"],
)
def test_falls_back_to_python_when_missing_or_broken(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, prepare: Callable[[Path], None]
) -> None:
    monkeypatch.delenv(accel.ACCEL_ENV, raising=False)
    monkeypatch.setattr(accel, "CACHE_DIR", str(tmp_path))
    prepare(Path(accel.object_path()))
    decoder = Decoder(boot_epoch=EPOCH)
    assert not decoder.accelerated
    rng = random.Random(2)
    records = [record(EVENTS[0], rng)]
    assert [fields(e) for e in decoder.decode(records)] == [
        fields(e) for e in Decoder(boot_epoch=EPOCH, accel=False).decode(records)
    ]


def ring_area(rng: random.Random, size: int = 1 << 12) -> tuple[bytes, int, int]:
    """A ring's data area as the kernel leaves it, mapped twice in a row (a record may wrap):
    committed, discarded and, last, one still-busy record, from a random consumer position;
    the area, that position and the producer's."""
    area = bytearray(size)
    start = cons = rng.randrange(0, 1 << 40, 8)
    while True:
        length = rng.randrange(0, 200)
        step = (HEADER_SIZE + length + 7) & ~7
        if cons + step - start > size - 64:
            break
        flags = DISCARD_BIT if rng.random() < 0.15 else 0
        body = struct.pack("<II", length | flags, 0) + rng.randbytes(length)
        for i, byte in enumerate(body):
            area[(cons + i) & (size - 1)] = byte
        cons += step
    area[cons & (size - 1) : (cons & (size - 1)) + 4] = struct.pack("<I", BUSY_BIT | 16)
    return bytes(area + area), start, cons + 24


def test_ring_loops_read_the_same_records() -> None:
    compiled = ringbuf.loops()
    assert compiled.compiled
    python = ringbuf.PYTHON_LOOPS
    rng = random.Random(9)
    for _ in range(40):
        data, cons, prod = ring_area(rng)
        mask = len(data) // 2 - 1
        limit = rng.choice([1, 7, 4096])
        assert compiled.read(data, cons, prod, mask, limit) == python.read(
            data, cons, prod, mask, limit
        )
        budget = rng.choice([1, 300, 1 << 20])
        extent = compiled.extent(data, cons, prod, mask, budget)
        assert extent == python.extent(data, cons, prod, mask, budget)
        begin = cons & mask
        chunk = data[begin : begin + (extent[0] - cons)]
        assert compiled.split(chunk) == python.split(chunk)
        assert len(python.split(chunk)) == extent[1]


def test_ring_loops_off_with_the_accelerator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(accel.ACCEL_ENV, "0")
    assert ringbuf.loops() is ringbuf.PYTHON_LOOPS


def test_a_build_after_a_miss_is_found(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A process that looked before the setup built the extension finds it afterwards."""
    monkeypatch.delenv(accel.ACCEL_ENV, raising=False)
    monkeypatch.setattr(accel, "CACHE_DIR", str(tmp_path))
    assert accel.load() is None
    assert accel.build_accel() == accel.object_path()
    module = accel.load()
    assert module is not None
    assert Decoder(boot_epoch=EPOCH).accelerated
