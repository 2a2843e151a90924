"""The spill area: draining the probe's rings is decoupled from evaluating what they held.

A flood of syscalls outruns the Python path behind the ring (decode + state + rules); when that
path also drained the ring, the ring filled and the kernel dropped events, the attack's among
them. Here a reader thread does nothing but copy the rings' committed records out as blocks
(one copy per read, no Python object per record: a C loop of open+close makes 1.7M events/s
and the reader shares the interpreter with the evaluation) into a bounded FIFO (`Spill`), and
the evaluation splits and consumes the blocks at its own pace: a burst costs latency, not
events, up to the memory limit the user sets (`SpillSettings.limit_bytes`).

Near the limit (the last 1/`RESERVE` of it is a reserve) the spill keeps only the critical
loss class (events/schema.py's `loss_class`: process lifecycle, credentials, modules; they also
travel in the probe's own ring); at the limit it keeps nothing more. It counts every record it
gives up by event code and cgroup id, as the kernel counts its own drops:
the drop alert (`bastion.sensor.drops`) names both places. Accounting is by the blocks' bytes
plus a fixed cost per block and per separate record (`BLOCK_OVERHEAD`, `RECORD_OVERHEAD`), so
the limit bounds the memory the held records really take.
"""

from __future__ import annotations

import collections
import dataclasses
import struct
import threading
from collections.abc import Callable

from bastion.sensor.probe.loader import merge_critical
from bastion.sensor.probe.ringbuf import split_chunk

#: What one held record costs beyond its bytes: sys.getsizeof(b"") (33) and a list slot (8).
RECORD_OVERHEAD = 41
#: The last 1/RESERVE of the limit is kept for the critical class: bulk records stop short of it.
RESERVE = 8
#: The spill's limit unless asked otherwise: about five million typical records, the whole of
#: a 2-million open+close flood (4M events, 360 MB at its peak with Falco's rules).
DEFAULT_LIMIT = 512 << 20
#: How much one read of the bulk ring copies at most.
CHUNK_BYTES = 1 << 20
#: After a read of less than this, the reader lets the bulk ring fill for `GATHER_S` before it
#: reads again (a critical record ends the wait): read by read as records arrived, a flood's
#: small blocks cost the two threads more than the rules did (the worker at 69% of its CPU at
#: 200k events/s, against 41% gathering; bench/sensor_throughput.py --spill-mib). A burst
#: fills whole chunks and is read without a pause.
GATHER_BYTES = 64 << 10
GATHER_S = 0.001
_HEAD = struct.Struct("<QQ")  # bastion_record.h: ts, cgroup_id ...
_CODE = struct.Struct("<H")
_CODE_AT = 32  # struct bst_hdr: ts, cgroup_id, ret, tid, tgid, then code


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SpillSettings:
    """The spill area between the rings and the evaluation: `limit_bytes` of held records at
    most (records, per-record overhead included); 0 turns the spill off (the evaluation then
    reads the ring itself, as before, and a slow evaluation loses events in the kernel)."""

    limit_bytes: int = DEFAULT_LIMIT

    def __post_init__(self) -> None:
        if self.limit_bytes < 0:
            raise ValueError("limit_bytes must not be negative")


def record_cost(records: list[bytes]) -> int:
    """What `records` (as separate objects) count against the limit."""
    return sum(map(len, records)) + RECORD_OVERHEAD * len(records)


#: What one queued block costs beyond its bytes (the bytes object, its tuple, the deque slot).
BLOCK_OVERHEAD = 128


@dataclasses.dataclass(slots=True)
class Block:
    """One read of the rings: the bulk ring's records as one block (`split_chunk` makes them
    records) and the critical records that go with it (merged in time order on the way out)."""

    chunk: bytes
    count: int
    critical: list[bytes]
    #: when the reader copied it out (CLOCK_BOOTTIME ns), stamped only for a latency trace
    read_ns: int = 0

    def records(self) -> list[bytes]:
        return merge_critical(split_chunk(self.chunk), self.critical)


class Spill:
    """A bounded FIFO of `Block`s: one thread `put`s, another `take`s.

    `held`/`peak` are the bytes held now and at most (as counted against the limit);
    `dropped`, `dropped_by_code`/`dropped_by_cgroup` the records given up, cumulative."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit = limit_bytes
        self._queue: collections.deque[tuple[Block, int]] = collections.deque()
        self._ready = threading.Condition()
        self._closed = False
        self.held = 0
        self.peak = 0
        self.dropped = 0
        self.dropped_by_code: dict[int, int] = {}
        self.dropped_by_cgroup: dict[int, int] = {}

    def put(self, block: Block) -> None:
        """Queue a block; near the limit keep only its critical records (the bulk records are
        counted as dropped), at the limit nothing."""
        if not block.count and not block.critical:
            return
        cost = len(block.chunk) + record_cost(block.critical) + BLOCK_OVERHEAD
        if self.held + cost > self.limit - self.limit // RESERVE:
            # the bulk ring's block goes; the critical ring's records use the reserve
            self._count(split_chunk(block.chunk))
            kept = block.critical
            block = Block(b"", 0, kept, block.read_ns)
            if not kept:
                return
            cost = record_cost(kept) + BLOCK_OVERHEAD
            if self.held + cost > self.limit:  # even the reserve is full: the limit holds
                self._count(kept)
                return
        with self._ready:
            self._queue.append((block, cost))
            self.held += cost
            self.peak = max(self.peak, self.held)
            self._ready.notify()

    def _count(self, records: list[bytes]) -> None:
        code_of, head = _CODE.unpack_from, _HEAD.unpack_from
        by_code, by_cgroup = self.dropped_by_code, self.dropped_by_cgroup
        for record in records:
            (code,) = code_of(record, _CODE_AT)
            cgroup = head(record)[1]
            by_code[code] = by_code.get(code, 0) + 1
            by_cgroup[cgroup] = by_cgroup.get(cgroup, 0) + 1
        self.dropped += len(records)

    def take(self, timeout: float, max_bytes: int) -> list[Block] | None:
        """The oldest blocks, as many as come to `max_bytes` of bulk records (at least one):
        after a stall of the evaluation, the small blocks queued meanwhile (an exec each) are
        caught up as one batch instead of one batch each. [] if none came within `timeout`;
        None once closed and empty."""
        with self._ready:
            if not self._queue and not self._closed:
                self._ready.wait(timeout)
            queue = self._queue
            if not queue:
                return None if self._closed else []
            taken: list[Block] = []
            size = 0
            while queue and (not taken or size + len(queue[0][0].chunk) <= max_bytes):
                block, cost = queue.popleft()
                self.held -= cost
                size += len(block.chunk)
                taken.append(block)
            return taken

    def close(self) -> None:
        """No more blocks will come: `take` returns None once the queue is empty."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()


class SpillReader:
    """The thread that drains the rings into a `Spill` until `done()`, then detaches the probe
    and drains what is left (so the counters read afterwards are exact), then closes the spill.
    `read(max)` and `poll(timeout)` are the probe's; `detach()` stops the kernel side."""

    def __init__(
        self,
        spill: Spill,
        *,
        read: Callable[[int], tuple[bytes, int, list[bytes]]],
        poll: Callable[[float], bool],
        detach: Callable[[], None],
        done: Callable[[], bool],
        clock: Callable[[], int] | None = None,
        gather: Callable[[float], object] | None = None,
    ) -> None:
        self.spill = spill
        self._read, self._poll, self._detach, self._done = read, poll, detach, done
        self._gather = gather  # the probe's wait for the bulk ring to fill (None: no wait)
        self._clock = clock  # stamps the blocks for a latency trace (`latency_trace`)
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="bastion-spill", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """End early (the consumer stopped): the thread detaches, drains and closes the spill."""
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join()

    def _run(self) -> None:
        put, read, clock, gather = self.spill.put, self._read, self._clock, self._gather
        try:
            while not (self._stop.is_set() or self._done()):
                block = Block(*read(CHUNK_BYTES))
                if block.count or block.critical:
                    if clock is not None:
                        block.read_ns = clock()
                    put(block)
                    if gather is not None and len(block.chunk) < GATHER_BYTES:
                        gather(GATHER_S)
                else:
                    self._poll(0.05)
            self._detach()
            while (block := Block(*read(CHUNK_BYTES))).count or block.critical:
                put(block)
        except BaseException as exc:  # handed to the consumer, which raises it
            self.error = exc
        finally:
            self.spill.close()
