"""The spill area's bounds: bulk records stop short of the reserve, critical ones use it, and
nothing goes past the limit; every record given up is counted by type and cgroup."""

from __future__ import annotations

import struct
import threading

import pytest

from bastion.sensor.events.schema import BY_NAME
from bastion.sensor.spill import RECORD_OVERHEAD, Spill, SpillReader, SpillSettings

HDR = struct.Struct("<QQqIIHHHH")  # bastion_record.h's struct bst_hdr


def record(name: str, cgroup: int = 5, size: int = 100) -> bytes:
    code = BY_NAME[name].code
    return HDR.pack(1, cgroup, 0, 1, 1, code, 0, 0, size) + bytes(size - HDR.size)


COST = 100 + RECORD_OVERHEAD


def test_fifo_order_and_close() -> None:
    spill = Spill(1 << 20)
    spill.put([record("openat")])
    spill.put([record("close")])
    spill.close()
    assert spill.get(0) == [record("openat")] and spill.get(0) == [record("close")]
    assert spill.get(0) is None and spill.held == 0


def test_bulk_stops_at_the_reserve_critical_at_the_limit() -> None:
    spill = Spill(16 * COST)  # reserve: the last 2 records' worth
    spill.put([record("openat")] * 14)
    spill.put([record("openat", cgroup=9), record("execve"), record("close")])
    assert spill.held == 15 * COST  # the execve went into the reserve
    assert spill.dropped_by_code == {BY_NAME["openat"].code: 1, BY_NAME["close"].code: 1}
    assert spill.dropped_by_cgroup == {9: 1, 5: 1}
    spill.put([record("clone"), record("procexit")])  # one fits in the reserve: neither kept
    assert spill.held == 15 * COST and spill.peak <= 16 * COST
    assert spill.dropped == 4
    assert spill.dropped_by_code[BY_NAME["clone"].code] == 1
    # consuming frees room for bulk again
    assert spill.get(0) is not None  # the 14: one execve is left
    spill.put([record("openat")] * 13)
    assert spill.dropped == 4 and spill.peak <= 16 * COST


def test_reader_drains_until_done_then_detaches_and_drains_the_rest() -> None:
    pending = [[record("openat")] * 3, [], [record("close")]]
    after = [[record("procexit")]]
    detached = threading.Event()
    done = threading.Event()

    def read(_max: int) -> list[bytes]:
        source = after if detached.is_set() else pending
        if not source:
            done.set()
            return []
        return source.pop(0)

    spill = Spill(1 << 20)
    reader = SpillReader(
        spill, read=read, poll=lambda t: False, detach=detached.set, done=done.is_set
    )
    reader.start()
    got = []
    while (batch := spill.get(1.0)) is not None:
        got.extend(batch)
    reader.stop()
    assert len(got) == 5 and detached.is_set() and reader.error is None


def test_settings() -> None:
    with pytest.raises(ValueError):
        SpillSettings(limit_bytes=-1)
