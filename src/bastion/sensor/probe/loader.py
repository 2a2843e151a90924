"""`Probe`: load and attach bastion.bpf.o through libbpf, set its filters, read its events.

Start is a list of steps, each pushing its undo onto an ExitStack (docs/conventions.md §3): build,
open, size the ring buffer, load, fill the filter maps, attach, map the ring buffer. `stop()`
(or leaving the `with` block, or a failed step) runs the undos in reverse: unmap, destroy the
links, close the object, so no program, link or map is left in the kernel.

Filters live in the kernel (bastion.bpf.c): the interesting-syscall array (syscall number ->
event code, from the event names asked for), an optional cgroup-id set and an optional drop of
failed syscalls. The process lifecycle events (clone, execve, execveat, procexit) are always on:
the thread table cannot follow processes without them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import mmap
import struct
import time
from collections.abc import Iterable

from bastion._sys import bpf
from bastion._sys.syscall_table import NR_MAX, X86_64
from bastion.errors import BastionError
from bastion.sensor.events.model import Event
from bastion.sensor.events.schema import BY_CODE, BY_NAME, EVENTS
from bastion.sensor.probe.build import build_probe
from bastion.sensor.probe.decode import Decoder
from bastion.sensor.probe.ringbuf import POLL_STEP_S, RingBuffer

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType

PROGRAMS = ("bst_sys_exit", "bst_exec", "bst_fork", "bst_exit")
MAPS = (
    "bst_events",
    "bst_critical",
    "bst_class",
    "bst_drops_code",
    "bst_drops_cgroup",
    "bst_counters",
    "bst_interesting",
    "bst_config",
    "bst_cgroups",
    "bst_open_paths",
    "bst_filtered",
    "bst_open_fds",
    "bst_exec_filename",
    "bst_scratch",
    "bst_pathbuf",
    "bst_kill_cgroups",
    "bst_kill_comms",
    "bst_kills",
    "bst_unwoken",
)
# enum bst_counter in bastion_record.h
COUNTER_PRODUCED = 0
COUNTER_DROPPED_RING = 1
COUNTER_SKIPPED_SYSCALL = 2
COUNTER_SKIPPED_CGROUP = 3
COUNTER_SKIPPED_FAILED = 4
COUNTER_FILTERED = 5
# bastion_record.h: BST_FILTER_ENTRIES, BST_FILTER_PREFIX_MAX, struct bst_open_path
FILTER_ENTRIES = 16
FILTER_PREFIX_MAX = 64
_OPEN_PATH = struct.Struct(f"<II{FILTER_PREFIX_MAX}s")

# bastion_record.h: the in-kernel kill
KILL_EXEC_BITS = {"execve": 1, "execveat": 2}  # BST_KILL_EXECVE, BST_KILL_EXECVEAT
COMM_LEN = 16  # with its NUL: a comm is at most 15 bytes
KILLS_DONE = 0
KILLS_REFUSED = 1

ALWAYS_ON = frozenset({"clone", "procexit", "execve", "execveat"})
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
# struct bst_config: cgroup_filter, drop_failed, open_paths, open_deny, close_filter, pad
_CONFIG = struct.Struct("<IIIIII")
#: What `Probe.filtered` calls the closes it kept back (bst_filtered's last slot).
FILTERED_CLOSES = "closes of kept-back opens"
_TS = struct.Struct("<Q")  # a record's first field: its boot-clock timestamp
# enum bst_class in bastion_record.h, by events/schema.py's loss class
RING_OF_CLASS = {"critical": 1, "bulk": 0}
#: The critical ring's size unless asked otherwise: lifecycle and credential events are rare,
#: 1 MiB holds thousands of exec records (the largest) between two reads.
DEFAULT_CRITICAL_RING_SIZE = 1 << 20


class ProbeError(BastionError):
    """The probe was configured wrongly (unknown event, bad ring size) or is not started."""

    reference = "probe-config-invalid"


class ProbeLoadError(ProbeError):
    """libbpf could not open, load or attach the probe (the message carries its log)."""

    reference = "probe-load-failed"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ProbeStatistics:
    """Kernel-side counters (summed over CPUs) and what the reader has consumed.

    `produced` counts records the probe built, `dropped_ring_full` those lost to a full ring
    buffer (so once the ring is drained, produced == read + dropped_ring_full);
    the `skipped_*` counters events the in-kernel filters removed (syscall filter, cgroup
    filter, failed-syscall filter). `read` is records the reader took from the ring buffer.
    `filtered` counts records built but kept back by the kernel filter (`OpenFilter`): they
    count as produced, so produced == read + dropped_ring_full + filtered.
    """

    produced: int
    dropped_ring_full: int
    skipped_syscall: int
    skipped_cgroup: int
    skipped_failed: int
    read: int
    load_seconds: float
    filtered: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class ProbeDrops:
    """Records lost to a full ring since the probe started: by event code and by cgroup id
    (the kernel's own tallies, each summing to `ProbeStatistics.dropped_ring_full`)."""

    by_code: dict[int, int]
    by_cgroup: dict[int, int]

    @property
    def total(self) -> int:
        return sum(self.by_code.values())


@dataclasses.dataclass(frozen=True, slots=True)
class OpenFilter:
    """The probe's open filter (bastion_record.h): `paths` as (path, exact) pairs, each a path
    class whose eligible opens are kept back (sensor/kernel_filter.py derives them from the
    rules), `deny`, the raw open flags that make an open ineligible, and `closes`: whether the
    close of an fd whose open was kept back is kept back too."""

    paths: tuple[tuple[str, bool], ...]
    deny: int
    closes: bool = False

    def __post_init__(self) -> None:
        if len(self.paths) > FILTER_ENTRIES:
            raise ProbeError(f"the open filter holds at most {FILTER_ENTRIES} paths")
        for path, _ in self.paths:
            if not path or len(path.encode()) > FILTER_PREFIX_MAX:
                raise ProbeError(f"open filter path {path!r}: 1 to {FILTER_PREFIX_MAX} bytes")


@dataclasses.dataclass(frozen=True, slots=True)
class KillPlan:
    """The probe's in-kernel kill (bastion_record.h): `comms` maps a process name (the kernel's
    comm, at most 15 bytes) to the exec events (`KILL_EXEC_BITS` names) after which a process
    of that name is SIGKILLed, in the cgroups user space arms (`Probe.arm_kill`).
    sensor/kernel_kill.py derives it from the rules whose action is kill_process."""

    comms: tuple[tuple[str, frozenset[str]], ...]

    def __post_init__(self) -> None:
        for comm, events in self.comms:
            raw = comm.encode()
            if not raw or len(raw) >= COMM_LEN or b"\0" in raw:
                raise ProbeError(f"kill plan: process name {comm!r} is not a comm (1-15 bytes)")
            if not events or not events <= KILL_EXEC_BITS.keys():
                raise ProbeError(f"kill plan: {comm!r} names events {sorted(events)}")


def merge_critical(bulk: list[bytes], critical: list[bytes]) -> list[bytes]:
    """Records of both rings in time order (each ring's own order is kept on equal stamps)."""
    if not critical:
        return bulk
    if not bulk:
        return critical
    ts = _TS.unpack_from
    merged = bulk + critical
    merged.sort(key=lambda r: ts(r)[0])  # stable: bulk keeps its order on equal stamps
    return merged


def event_codes(names: Iterable[str] | None) -> dict[str, int]:
    """Event names (None: schema's defaults) -> {name: code}, lifecycle events included."""
    if names is None:
        chosen = {e.name for e in EVENTS if e.default}
    else:
        chosen = set(names)
        unknown = sorted(chosen - set(BY_NAME))
        if unknown:
            raise ProbeError(
                f"unknown event name(s): {', '.join(unknown)}",
                hint="see src/bastion/sensor/events/schema.py for the events the probe emits",
            )
    chosen |= ALWAYS_ON
    return {name: BY_NAME[name].code for name in sorted(chosen)}


def interesting_array(names: Iterable[str] | None) -> list[int]:
    """The bst_interesting contents: for each syscall number, its event code or 0."""
    table = [0] * NR_MAX
    for name in event_codes(names):
        for syscall in BY_NAME[name].syscalls:
            table[X86_64[syscall]] = BY_NAME[name].code
    return table


def _check_ring_size(size: int) -> None:
    if size < mmap.PAGESIZE or size & (size - 1):
        raise ProbeError(
            f"ring_size {size} is not a power of two of at least one page ({mmap.PAGESIZE})",
            hint="use e.g. 8 << 20",
        )


class Probe:
    """`with Probe() as p:` loads and attaches the probe; `p.read_events()` returns its events."""

    def __init__(
        self,
        *,
        ring_size: int = 8 << 20,
        critical_ring_size: int = DEFAULT_CRITICAL_RING_SIZE,
        events: Iterable[str] | None = None,
        cgroup_ids: Iterable[int] | None = None,
        drop_failed: bool = False,
        object_path: str | None = None,
        open_filter: OpenFilter | None = None,
        kill_plan: KillPlan | None = None,
    ) -> None:
        _check_ring_size(ring_size)
        _check_ring_size(critical_ring_size)
        self._ring_size = ring_size
        self._critical_ring_size = critical_ring_size
        self._interesting = interesting_array(events)
        self._cgroups = None if cgroup_ids is None else frozenset(cgroup_ids)
        self._drop_failed = drop_failed
        self._open_filter = open_filter
        self._kill_plan = kill_plan
        self._final_kills: tuple[int, int] | None = None
        self._object_path = object_path
        self._stack = contextlib.ExitStack()
        self._fds: dict[str, int] = {}
        self._prog_fds: list[int] = []
        self._links: list[int] = []
        self._ring: RingBuffer | None = None
        self._critical: RingBuffer | None = None
        self._held: list[bytes] = []  # critical records newer than the bulk ring's last read
        self._final: ProbeStatistics | None = None
        self._final_drops: ProbeDrops | None = None
        self._final_filtered: dict[str, int] | None = None
        self.load_seconds = 0.0
        self.decoder = Decoder()

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Build (if needed), load, configure and attach; on failure nothing is left behind."""
        if self._ring is not None:
            raise ProbeError("the probe is already started")
        path = self._object_path or build_probe()
        began = time.perf_counter()
        try:
            self._start(path)
        except OSError as e:
            raise ProbeLoadError(
                f"cannot load the probe: {e.strerror or e}",
                where=path,
                hint="needs root, a kernel with BTF and tp_btf; rebuild with scripts/setup",
            ) from e
        self.load_seconds = time.perf_counter() - began

    def _start(self, path: str) -> None:
        with contextlib.ExitStack() as stack:
            obj = bpf.object_open(path)
            stack.callback(bpf.object_close, obj)
            events_map = bpf.find_map(obj, "bst_events")
            bpf.map_set_max_entries(events_map, self._ring_size, "bst_events")
            critical_map = bpf.find_map(obj, "bst_critical")
            bpf.map_set_max_entries(critical_map, self._critical_ring_size, "bst_critical")
            bpf.object_load(obj, path)
            self._fds = {name: bpf.map_fd(bpf.find_map(obj, name), name) for name in MAPS}
            stack.callback(self._fds.clear)
            self._prog_fds = [bpf.program_fd(bpf.find_program(obj, name)) for name in PROGRAMS]
            stack.callback(self._prog_fds.clear)
            self._write_interesting(self._interesting)
            self._write_open_paths(self._open_filter)
            self._write_kill_plan(self._kill_plan)
            self._write_cgroups(self._cgroups)
            self._write_classes()
            ring = RingBuffer(self._fds["bst_events"], bpf.map_max_entries(events_map))
            stack.callback(ring.close)
            critical = RingBuffer(self._fds["bst_critical"], bpf.map_max_entries(critical_map))
            stack.callback(critical.close)
            stack.callback(self.detach)
            for name in PROGRAMS:
                self._links.append(bpf.program_attach(bpf.find_program(obj, name), name))
            self._ring = ring
            self._critical = critical
            self._held = []
            stack.callback(setattr, self, "_ring", None)
            stack.callback(setattr, self, "_critical", None)
            self._final = None
            self._final_drops = None
            self._final_filtered = None
            self._final_kills = None
            self.decoder = Decoder()
            self._stack = stack.pop_all()

    def detach(self) -> None:
        """Detach the programs (no record is made after this) but keep the rings and counters:
        a reader drains what is left, then the counters are final (produced == read +
        dropped exactly). `stop()` detaches too."""
        while self._links:
            bpf.link_destroy(self._links.pop())

    def stop(self) -> None:
        """Detach and free everything; `statistics()` and `drops()` keep answering with the
        final counts (read after detaching, so no record made meanwhile goes uncounted)."""
        if self._ring is not None:
            self.detach()
            self._final = self.statistics()
            self._final_drops = self.drops()
            self._final_filtered = self.filtered()
            self._final_kills = self.kills()
        self._stack.close()

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

    # -- reading ------------------------------------------------------------------------

    @property
    def ring(self) -> RingBuffer:
        if self._ring is None:
            raise ProbeError("the probe is not started", hint="call start() or use `with`")
        return self._ring

    @property
    def critical_ring(self) -> RingBuffer:
        """The critical ring (exec, exit, credentials), which wakes a waiting reader."""
        if self._critical is None:
            raise ProbeError("the probe is not started", hint="call start() or use `with`")
        return self._critical

    def poll(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` seconds (negative: forever) for records in either ring; True
        if some are ready. Both rings are looked at on every step: an exec (the critical ring)
        with no bulk record after it used to wait out the whole timeout, 50 ms of a kill. Each
        step waits on the critical ring's epoll (the kernel wakes it when an exec or an exit
        is committed to an idle reader), so such a record ends the step at once; bulk records
        (no wakeup: a flood must not pay for them) are found at the end of the step."""
        critical = self._critical
        ring = self.ring
        deadline = None if timeout_s < 0 else time.monotonic() + timeout_s
        while True:
            if self._held or ring.pending() or (critical is not None and critical.pending()):
                return True
            step = POLL_STEP_S
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                step = min(step, left)
            if critical is not None:
                critical.wait(step)
            else:
                time.sleep(step)

    def gather(self, timeout_s: float) -> None:
        """Let the bulk ring fill for up to `timeout_s` seconds: the wait ends at once when a
        critical record (an exec, an exit...) is committed, as `poll`'s does, so only bulk
        records wait (spill.py's reader, after a small read)."""
        critical = self._critical
        if critical is not None:
            critical.wait(timeout_s)
        else:
            time.sleep(timeout_s)

    def read_raw(self, max_records: int = 4096) -> list[bytes]:
        """Up to `max_records` records' exact bytes (bastion_record.h), e.g. for a capture:
        both rings merged in time order (each ring is read in order; a critical record newer
        than the last bulk record read waits for the next call, so a state handler never sees
        an exec before the opens that preceded it)."""
        # the critical ring first: a bulk record a task wrote before one of its critical
        # records was committed before it, so the bulk read below finds it (read the other
        # way round, an exit could be handed over before the task's last bulk records)
        critical = self._critical
        fresh = critical.read_raw() if critical is not None else []
        bulk = self.ring.read_raw(max_records)
        if not fresh and not self._held:
            return bulk
        held = self._held + fresh
        ts = _TS.unpack_from
        if bulk and self.ring.pending():
            last = ts(bulk[-1])[0]
            self._held = [r for r in held if ts(r)[0] > last]
            held = [r for r in held if ts(r)[0] <= last]
        else:
            self._held = []
        return merge_critical(bulk, held)

    def read_chunk(self, max_bytes: int = 1 << 20) -> tuple[bytes, int, list[bytes]]:
        """For a reader thread: the bulk ring's committed records as one block
        (`ringbuf.split_chunk` makes them records), how many it holds, and the critical
        ring's records that belong with it (`merge_critical` puts them in time order; newer
        ones wait for the next block, as in `read_raw`)."""
        critical = self._critical
        fresh = critical.read_raw() if critical is not None else []  # first: see `read_raw`
        chunk, count, last_ts = self.ring.read_chunk(max_bytes)
        if not fresh and not self._held:
            return chunk, count, []
        held = self._held + fresh
        if count and self.ring.pending():
            ts = _TS.unpack_from
            self._held = [r for r in held if ts(r)[0] > last_ts]
            held = [r for r in held if ts(r)[0] <= last_ts]
        else:
            self._held = []
        return chunk, count, held

    def read_events(self, max_records: int = 4096) -> list[Event]:
        """Up to `max_records` records, decoded."""
        return self.decoder.decode(self.read_raw(max_records))

    # -- live configuration -------------------------------------------------------------

    def set_events(self, names: Iterable[str] | None) -> None:
        """Capture these events from now on (None: schema's defaults)."""
        table = interesting_array(names)
        self._interesting = table
        if self._ring is not None:
            self._write_interesting(table)

    def set_cgroups(self, ids: Iterable[int] | None) -> None:
        """Emit only events from these cgroup v2 ids (None: from every cgroup)."""
        self._cgroups = None if ids is None else frozenset(ids)
        if self._ring is not None:
            self._write_cgroups(self._cgroups)

    def _write_interesting(self, table: list[int]) -> None:
        fd = self._fds["bst_interesting"]
        for nr, code in enumerate(table):
            bpf.map_update(fd, _U32.pack(nr), _U32.pack(code))

    def _write_classes(self) -> None:
        fd = self._fds["bst_class"]
        for spec in EVENTS:
            bpf.map_update(fd, _U32.pack(spec.code), _U32.pack(RING_OF_CLASS[spec.loss_class]))

    def _write_config(self, cgroup_filter: bool) -> None:
        opens = self._open_filter
        used, deny, closes = (
            (len(opens.paths), opens.deny, opens.closes) if opens is not None else (0, 0, False)
        )
        config = _CONFIG.pack(
            int(cgroup_filter), int(self._drop_failed), used, deny, int(closes), 0
        )
        bpf.map_update(self._fds["bst_config"], _U32.pack(0), config)

    def _write_open_paths(self, opens: OpenFilter | None) -> None:
        fd = self._fds["bst_open_paths"]
        for index, (path, exact) in enumerate(opens.paths if opens is not None else ()):
            raw = path.encode()
            bpf.map_update(fd, _U32.pack(index), _OPEN_PATH.pack(len(raw), int(exact), raw))

    def _write_cgroups(self, ids: frozenset[int] | None) -> None:
        fd = self._fds["bst_cgroups"]
        if ids is None:  # filter off first, so no event is lost while the set is cleared
            self._write_config(False)
        for key in bpf.map_keys(fd, 8):
            if ids is None or _U64.unpack(key)[0] not in ids:
                bpf.map_delete(fd, key)
        for cgroup_id in ids or ():
            bpf.map_update(fd, _U64.pack(cgroup_id), b"\1")
        if ids is not None:
            self._write_config(True)

    def _write_kill_plan(self, plan: KillPlan | None) -> None:
        fd = self._fds["bst_kill_comms"]
        for comm, events in plan.comms if plan is not None else ():
            bits = sum(KILL_EXEC_BITS[e] for e in events)
            bpf.map_update(fd, comm.encode().ljust(COMM_LEN, b"\0"), _U32.pack(bits))

    def arm_kill(self, cgroup_ids: Iterable[int]) -> None:
        """Let the kill plan act in these cgroups (a container's, once its own process runs)."""
        if self._ring is None or self._kill_plan is None or not self._kill_plan.comms:
            return
        fd = self._fds["bst_kill_cgroups"]
        for cgroup_id in cgroup_ids:
            bpf.map_update(fd, _U64.pack(cgroup_id), b"\1")

    def disarm_kill(self, cgroup_ids: Iterable[int]) -> None:
        """No more kills in these cgroups (their container is gone)."""
        if self._ring is None:
            return
        fd = self._fds["bst_kill_cgroups"]
        for cgroup_id in cgroup_ids:
            bpf.map_delete(fd, _U64.pack(cgroup_id))

    def kills(self) -> tuple[int, int]:
        """Processes the probe SIGKILLed so far, and signals the kernel refused to send."""
        if self._ring is None:
            if self._final_kills is None:
                raise ProbeError("the probe was never started")
            return self._final_kills
        fd = self._fds["bst_kills"]
        return sum(bpf.percpu_lookup_u64(fd, KILLS_DONE)), sum(
            bpf.percpu_lookup_u64(fd, KILLS_REFUSED)
        )

    def kernel_object_ids(self) -> dict[str, tuple[int, ...]]:
        """The kernel ids of our programs, maps and links (as `bpftool ... list` shows them)."""
        if self._ring is None:
            raise ProbeError("the probe is not started", hint="call start() or use `with`")
        return {
            "prog": tuple(bpf.object_id(fd) for fd in self._prog_fds),
            "map": tuple(bpf.object_id(fd) for fd in self._fds.values()),
            "link": tuple(bpf.object_id(bpf.link_fd(link)) for link in self._links),
        }

    # -- counters -----------------------------------------------------------------------

    def counter(self, index: int) -> int:
        """One kernel counter summed over every possible CPU."""
        return sum(bpf.percpu_lookup_u64(self._fds["bst_counters"], index))

    def statistics(self) -> ProbeStatistics:
        if self._ring is None:
            if self._final is None:
                raise ProbeError("the probe was never started")
            return self._final
        return ProbeStatistics(
            produced=self.counter(COUNTER_PRODUCED),
            dropped_ring_full=self.counter(COUNTER_DROPPED_RING),
            skipped_syscall=self.counter(COUNTER_SKIPPED_SYSCALL),
            skipped_cgroup=self.counter(COUNTER_SKIPPED_CGROUP),
            skipped_failed=self.counter(COUNTER_SKIPPED_FAILED),
            read=self.ring.records_read + (self._critical.records_read if self._critical else 0),
            load_seconds=self.load_seconds,
            filtered=self.counter(COUNTER_FILTERED),
        )

    def filtered(self) -> dict[str, int]:
        """Events the kernel filter kept back so far: opens by the path class that matched,
        and the closes of their fds (`FILTERED_CLOSES`)."""
        if self._ring is None:
            if self._final_filtered is None:
                raise ProbeError("the probe was never started")
            return self._final_filtered
        out = {}
        opens = self._open_filter
        for index, (path, exact) in enumerate(opens.paths if opens is not None else ()):
            n = sum(bpf.percpu_lookup_u64(self._fds["bst_filtered"], index))
            if n:
                out[path if exact else path + "*"] = n
        closes = sum(bpf.percpu_lookup_u64(self._fds["bst_filtered"], FILTER_ENTRIES))
        if closes:
            out[FILTERED_CLOSES] = closes
        return out

    @property
    def started_once(self) -> bool:
        """Whether the probe was started (its counters, live or final, can be read)."""
        return self._ring is not None or self._final is not None

    def drops(self) -> ProbeDrops:
        """Records lost to a full ring so far, by event code and by cgroup id."""
        if self._ring is None:
            if self._final_drops is None:
                raise ProbeError("the probe was never started")
            return self._final_drops
        by_code = {}
        for code in BY_CODE:
            n = sum(bpf.percpu_lookup_u64(self._fds["bst_drops_code"], code))
            if n:
                by_code[code] = n
        fd = self._fds["bst_drops_cgroup"]
        by_cgroup = {}
        for key in bpf.map_keys(fd, 8):
            value = bpf.map_lookup(fd, key, 8)
            if value is not None:
                by_cgroup[_U64.unpack(key)[0]] = _U64.unpack(value)[0]
        return ProbeDrops(by_code, by_cgroup)
