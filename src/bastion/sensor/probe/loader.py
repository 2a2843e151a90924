"""`Probe`: load and attach bastion.bpf.o through libbpf, expose its ring buffer and counters.

Start is a list of steps, each pushing its undo onto an ExitStack (CONVENTIONS.md §3): build,
open, load, attach, map the ring buffer. Leaving the `with` block (or a failed step) runs the
undos in reverse: unmap, destroy the link, close the object, so no program, link or map is left.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time

from bastion._sys import bpf
from bastion.sensor.probe.build import build_probe
from bastion.sensor.probe.ringbuf import RingBuffer

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType

PROGRAMS = ("bst_sched_exec",)
EVENTS_MAP = "bst_events"
COUNTERS_MAP = "bst_counters"
# enum bst_counter in bastion.bpf.c
COUNTER_PRODUCED = 0
COUNTER_DROPPED_RESERVE = 1


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ProbeStatistics:
    """Kernel-side counters (summed over CPUs) and what the reader has consumed."""

    produced: int
    dropped_ring_full: int
    read: int
    load_seconds: float


class Probe:
    """`with Probe() as p:` loads and attaches the probe; `p.ring` reads its events."""

    def __init__(self, object_path: str | None = None) -> None:
        self._object_path = object_path
        self._stack = contextlib.ExitStack()
        self._counters_fd = -1
        self._ring: RingBuffer | None = None
        self.load_seconds = 0.0

    @property
    def ring(self) -> RingBuffer:
        if self._ring is None:
            raise RuntimeError("the probe is not started")
        return self._ring

    def start(self) -> None:
        path = self._object_path or build_probe()
        began = time.perf_counter()
        with contextlib.ExitStack() as stack:
            obj = bpf.object_open(path)
            stack.callback(bpf.object_close, obj)
            bpf.object_load(obj, path)
            for name in PROGRAMS:
                link = bpf.program_attach(bpf.find_program(obj, name), name)
                stack.callback(bpf.link_destroy, link)
            self._counters_fd = bpf.map_fd(bpf.find_map(obj, COUNTERS_MAP), COUNTERS_MAP)
            events = bpf.find_map(obj, EVENTS_MAP)
            ring = RingBuffer(bpf.map_fd(events, EVENTS_MAP), bpf.map_max_entries(events))
            stack.callback(ring.close)
            self._ring = ring
            stack.callback(setattr, self, "_ring", None)
            self._stack = stack.pop_all()
        self.load_seconds = time.perf_counter() - began

    def stop(self) -> None:
        self._stack.close()
        self._counters_fd = -1

    def counter(self, index: int) -> int:
        """One kernel counter summed over every possible CPU."""
        return sum(bpf.percpu_lookup_u64(self._counters_fd, index))

    def statistics(self) -> ProbeStatistics:
        return ProbeStatistics(
            produced=self.counter(COUNTER_PRODUCED),
            dropped_ring_full=self.counter(COUNTER_DROPPED_RESERVE),
            read=self.ring.records_read,
            load_seconds=self.load_seconds,
        )

    def __enter__(self) -> Probe:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
