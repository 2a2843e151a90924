"""The spill area's bounds: bulk blocks stop short of the reserve, critical records use it,
and nothing goes past the limit; every record given up is counted by type and cgroup."""

from __future__ import annotations

import struct
import threading
from typing import Any

import pytest

from bastion.sensor import spill as spill_module
from bastion.sensor.events.schema import BY_NAME
from bastion.sensor.probe.ringbuf import split_chunk
from bastion.sensor.spill import (
    BLOCK_OVERHEAD,
    RECORD_OVERHEAD,
    Block,
    Spill,
    SpillReader,
    SpillSettings,
)

HDR = struct.Struct("<QQqIIHHHH")  # bastion_record.h's struct bst_hdr
RING_HDR = struct.Struct("<II")  # the BPF ring's own header: len (BUSY, DISCARD bits), pg_off


def record(name: str, cgroup: int = 5, size: int = 96, ts: int = 1) -> bytes:
    code = BY_NAME[name].code
    return HDR.pack(ts, cgroup, 0, 1, 1, code, 0, 0, size) + bytes(size - HDR.size)


def chunk(*records: bytes, discard: int = -1) -> bytes:
    """Records laid out as the ring holds them (8-byte aligned, each after its header)."""
    out = b""
    for i, rec in enumerate(records):
        flags = 1 << 30 if i == discard else 0
        out += RING_HDR.pack(len(rec) | flags, 0) + rec + bytes(-len(rec) % 8)
    return out


def block(*records: bytes, critical: tuple[bytes, ...] = ()) -> Block:
    return Block(chunk(*records), len(records), list(critical))


COST = 96 + 8  # one record in a block: its bytes and the ring's header


def test_split_chunk_skips_discarded_and_alignment() -> None:
    a, b, c = record("openat", size=41), record("close", size=48), record("openat", size=57)
    assert split_chunk(chunk(a, b, c, discard=1)) == [a, c]


def test_blocks_come_out_in_order_critical_merged_by_time() -> None:
    spill = Spill(1 << 20)
    early, late = record("openat", ts=1), record("close", ts=3)
    exec_ = record("execve", ts=2)
    spill.put(block(early, late, critical=(exec_,)))
    spill.close()
    out = spill.take(0, 1 << 20)
    assert out is not None and [b.records() for b in out] == [[early, exec_, late]]
    assert spill.take(0, 1 << 20) is None and spill.held == 0


def test_bulk_stops_at_the_reserve_critical_at_the_limit() -> None:
    limit = 8 * (2 * COST + BLOCK_OVERHEAD)
    spill = Spill(limit)  # the reserve is one eighth: one block of two bulk records
    for _ in range(7):
        spill.put(block(record("openat"), record("close")))
    assert spill.dropped == 0
    spill.put(block(record("openat", cgroup=9), record("close"), critical=(record("execve"),)))
    assert spill.dropped_by_code == {BY_NAME["openat"].code: 1, BY_NAME["close"].code: 1}
    assert spill.dropped_by_cgroup == {9: 1, 5: 1}
    assert spill.held == 7 * (2 * COST + BLOCK_OVERHEAD) + 96 + RECORD_OVERHEAD + BLOCK_OVERHEAD
    big = tuple(record("clone") for _ in range(3))  # more than the reserve has left
    spill.put(block(critical=big))
    assert spill.dropped == 5 and spill.dropped_by_code[BY_NAME["clone"].code] == 3
    assert spill.peak <= limit
    assert len(spill.take(0, 4 * COST) or []) == 2  # room for bulk again
    spill.put(block(record("openat"), record("close")))
    assert spill.dropped == 5 and spill.peak <= limit


def test_reader_drains_until_done_then_detaches_and_drains_the_rest() -> None:
    pending: list[tuple[bytes, int, list[bytes]]] = [
        (chunk(record("openat")), 1, []),
        (b"", 0, []),
        (chunk(record("close")), 1, []),
    ]
    after: list[tuple[bytes, int, list[bytes]]] = [(b"", 0, [record("procexit")])]
    detached = threading.Event()
    done = threading.Event()

    def read(_max: int) -> tuple[bytes, int, list[bytes]]:
        source = after if detached.is_set() else pending
        if not source:
            done.set()
            return b"", 0, []
        return source.pop(0)

    spill = Spill(1 << 20)
    reader = SpillReader(
        spill, read=read, poll=lambda t: False, detach=detached.set, done=done.is_set
    )
    reader.start()
    got: list[bytes] = []
    while (out := spill.take(1.0, 1 << 20)) is not None:
        got.extend(r for b in out for r in b.records())
    reader.stop()
    assert len(got) == 3 and detached.is_set() and reader.error is None


Read = tuple[bytes, int, list[bytes]]


def reader_of(spill: Spill, pending: list[Read], **hooks: Any) -> SpillReader:
    """A reader of `pending` (the probe's reads, in order), done when they are; `hooks` are
    the reader's optional `clock` and `gather`."""
    return SpillReader(
        spill,
        read=lambda _max: pending.pop(0) if pending else (b"", 0, []),
        poll=lambda t: False,
        detach=lambda: None,
        done=lambda: not pending,
        **hooks,
    )


def test_a_clock_stamps_each_block_as_it_is_read() -> None:
    # the latency trace's first user-space stage (`bastion.sensor.latency_trace`)
    pending: list[Read] = [(chunk(record("openat")), 1, []), (b"", 0, [record("execve")])]
    ticks = iter(range(100, 200))
    spill = Spill(1 << 20)
    reader = reader_of(spill, pending, clock=lambda: next(ticks))
    reader.start()
    stamps: list[int] = []
    while (out := spill.take(1.0, 1 << 20)) is not None:
        stamps.extend(b.read_ns for b in out)
    reader.stop()
    assert stamps == [100, 101]


def test_a_small_read_lets_the_ring_fill_before_the_next() -> None:
    """After a read of less than GATHER_BYTES the reader waits (the probe's `gather`, which a
    critical record ends early); after a full read it reads again at once."""
    small: Read = (chunk(record("openat")), 1, [])
    many = [record("openat", size=4096) for _ in range(spill_module.GATHER_BYTES // 4096)]
    pending: list[Read] = [small, (chunk(*many), len(many), []), small]
    waits: list[tuple[float, int]] = []
    spill = Spill(8 << 20)
    reader = reader_of(spill, pending, gather=lambda t: waits.append((t, len(pending))))
    reader.start()
    while spill.take(1.0, 1 << 20) is not None:
        pass
    reader.stop()
    # after the first small read (two reads left) and the last (none left), not the large one
    assert waits == [(spill_module.GATHER_S, 2), (spill_module.GATHER_S, 0)]


def test_take_batches_the_queued_blocks_up_to_a_size() -> None:
    spill = Spill(1 << 20)
    assert spill.take(0, 1000) == []  # nothing within the timeout
    small = [block(record("openat", ts=n)) for n in range(3)]
    big = block(*(record("close", ts=10 + n) for n in range(12)))  # 1248 bytes alone
    for b in (*small, big, block(critical=(record("execve", ts=30),))):
        spill.put(b)
    first = spill.take(0, 2 * COST)
    assert first == small[:2]  # as many as fit
    assert spill.take(0, 2 * COST) == small[2:]  # the big one does not fit beside it
    assert spill.take(0, 2 * COST) == [big]  # alone, it is taken whatever its size
    spill.close()
    last = spill.take(0, 2 * COST)
    assert last is not None and [b.critical for b in last] == [[record("execve", ts=30)]]
    assert spill.take(0, 2 * COST) is None and spill.held == 0


def test_settings() -> None:
    with pytest.raises(ValueError):
        SpillSettings(limit_bytes=-1)
