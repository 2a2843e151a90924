"""Read a BPF ring buffer from Python through mmap: no per-event callback, no ctypes.

Layout (kernel/bpf/ringbuf.c, and libbpf's ring_buffer__add, which maps it the same way):
- offset 0, one page, read-write: the consumer page; its first u64 is `consumer_pos`.
- offset pagesize, read-only: the producer page (first u64 `producer_pos`), then the data area of
  `size` bytes mapped twice in a row, so a record that wraps is still contiguous: the mapping is
  `pagesize + 2 * size` bytes.
Each record starts with an 8-byte header: u32 `len` (BUSY bit: still being written; DISCARD bit:
skip it) and u32 `pg_off`; records are 8-byte aligned. We read positions, walk the committed
records, decode each with one precompiled `struct.Struct`, then store the new `consumer_pos`
(an aligned 8-byte store through a 'Q' memoryview, the store-release x86 needs nothing more for).
"""

from __future__ import annotations

import dataclasses
import mmap
import select
import struct

BUSY_BIT = 1 << 31
DISCARD_BIT = 1 << 30
HEADER_SIZE = 8

EVENT_EXEC = 1
# struct bst_exec_record in bastion.bpf.c: type, pid, tid, ppid, ts_ns, cgroup_id, comm, filename.
EXEC_RECORD = struct.Struct("<IIIIQQ16s256s")


@dataclasses.dataclass(frozen=True, slots=True)
class ExecEvent:
    """One sched_process_exec record: host pid/tid, parent's pid, monotonic ns, cgroup id."""

    pid: int
    tid: int
    ppid: int
    ts_ns: int
    cgroup_id: int
    comm: str
    filename: str


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode(errors="surrogateescape")


class RingBuffer:
    """The consumer side of one BPF_MAP_TYPE_RINGBUF map, given its fd and `max_entries`."""

    def __init__(self, fd: int, size: int) -> None:
        page = mmap.PAGESIZE
        self._fd = fd
        self._size = size
        self._mask = size - 1
        self._consumer = mmap.mmap(fd, page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        try:
            self._producer = mmap.mmap(
                fd, page + 2 * size, mmap.MAP_SHARED, mmap.PROT_READ, offset=page
            )
        except BaseException:
            self._consumer.close()
            raise
        self._cons_pos = memoryview(self._consumer).cast("Q")
        self._prod_pos = memoryview(self._producer)[:8].cast("Q")
        self._data = memoryview(self._producer)[page:]
        self._epoll = select.epoll()
        self._epoll.register(fd, select.EPOLLIN)
        self.records_read = 0
        self.records_discarded = 0

    def poll(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds (negative: forever) for records; True if there are some."""
        if self.pending():
            return True
        return bool(self._epoll.poll(timeout))

    def pending(self) -> int:
        """Bytes the producer has committed (or reserved) past our consumer position."""
        return int(self._prod_pos[0] - self._cons_pos[0])

    def read_batch(self, max_records: int = 1024) -> list[ExecEvent]:
        """Decode up to `max_records` committed records and release their space to the kernel."""
        events: list[ExecEvent] = []
        cons = self._cons_pos[0]
        prod = self._prod_pos[0]
        data, mask, unpack = self._data, self._mask, EXEC_RECORD.unpack_from
        start = cons
        while cons < prod and len(events) < max_records:
            offset = cons & mask
            length, _pg_off = struct.unpack_from("<II", data, offset)
            if length & BUSY_BIT:
                break  # reserved, not yet submitted: records after it wait for it too
            cons += (HEADER_SIZE + (length & ~DISCARD_BIT) + 7) & ~7
            if length & DISCARD_BIT:
                self.records_discarded += 1
                continue
            etype, pid, tid, ppid, ts, cgid, comm, filename = unpack(data, offset + HEADER_SIZE)
            if etype == EVENT_EXEC:
                events.append(ExecEvent(pid, tid, ppid, ts, cgid, _cstr(comm), _cstr(filename)))
        if cons != start:
            self._cons_pos[0] = cons
        self.records_read += len(events)
        return events

    def close(self) -> None:
        self._epoll.close()
        self._cons_pos.release()
        self._prod_pos.release()
        self._data.release()
        self._producer.close()
        self._consumer.close()
