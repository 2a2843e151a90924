"""Where events come from: the live probe, a bastion capture (.bcap), a Falco/sysdig .scap.

Every source yields batches of decoded `Event`s, not yet applied, and owns the state it seeded
(from /proc, a capture's snapshot, or a .scap's process/fd/user lists); `statistics` holds its
counters once the batches end (the probe's produced/dropped/skipped, a capture's trailer). The
consumers (`bastion events`, `bastion watch`, `bastion rules explain`, the benches) apply each
event to `source.state` and do their own work with it.
"""

from __future__ import annotations

import dataclasses
import struct
import sys
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from bastion.errors import BastionError, ExitCode
from bastion.sensor.gc_policy import event_loop_gc

if TYPE_CHECKING:
    from bastion.sensor.drops import DropTally
    from bastion.sensor.events.model import Event
    from bastion.sensor.probe import Probe
    from bastion.sensor.spill import Spill, SpillSettings
    from bastion.sensor.state import SensorState

BATCH = 1024
_TS = struct.Struct("<Q")  # bastion_record.h: a record starts with its timestamp
READER_SWITCH_S = 0.001
T = TypeVar("T")


class UnknownCaptureError(BastionError):
    """Raised when a file to replay is neither a bastion capture nor a readable .scap file."""

    reference = "unknown-capture-format"
    exit_code = ExitCode.INVALID_INPUT


class ProbeStartError(BastionError):
    """Raised when the eBPF probe cannot be built, loaded or attached (no root, no BTF, a
    verifier rejection); the message keeps the kernel's or libbpf's last words."""

    reference = "probe-start-failed"


class Source:
    """Batches of events, the state they belong to, and the counters known at the end."""

    def __init__(self, state: SensorState) -> None:
        self.state = state
        self.statistics: dict[str, Any] = {}

    def batches(self) -> Iterator[list[Event]]:
        raise NotImplementedError

    def close(self) -> None:
        """Stop early (after `-n N`); `statistics` are final afterwards."""

    def drops(self) -> DropTally:
        """Events lost so far (cumulative; final once the batches end): none for a recording."""
        from bastion.sensor.drops import NO_DROPS

        return NO_DROPS


def probe_statistics(probe: Probe) -> dict[str, Any]:
    """The probe's counters as a plain dict (for reports, traces and capture trailers)."""
    stats = probe.statistics()
    return {k: v for k, v in dataclasses.asdict(stats).items() if isinstance(v, int | float)}


def start_probe(probe: Probe) -> None:
    """`probe.start()`, its failures turned into one `ProbeStartError`."""
    try:
        probe.start()
    except BastionError:
        raise
    except (OSError, RuntimeError) as exc:
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        detail = lines[0] + (f" ... {lines[-1]}" if len(lines) > 1 else "")
        raise ProbeStartError(
            f"cannot start the eBPF probe: {detail}",
            hint="run as root on a kernel with BTF (/sys/kernel/btf/vmlinux) and tp_btf",
        ) from None


def probe_batches(
    probe: Probe,
    done: Callable[[], bool],
    read: Callable[[], list[T]],
    on_started: Callable[[], None] | None = None,
    statistics: dict[str, Any] | None = None,
) -> Generator[list[T], None, None]:
    """Start `probe`, yield `read()` batches until `done()`, drain what arrived before the
    stop, then stop it. `statistics` receives the probe's final counters, also when the
    consumer stops early (close the generator). `on_started` runs once the probe is attached
    (a caller waiting to start its workload)."""
    start_probe(probe)
    try:
        if on_started is not None:
            on_started()
        while not done():
            if probe.poll(0.1):
                yield read()
        probe.detach()  # no record is made past this point: the drain below is the last
        while batch := read():
            yield batch
    finally:
        probe.stop()  # detaches, then reads the counters: exact, also after an early stop
        if statistics is not None:
            statistics.update(probe_statistics(probe))


class ProbeSource(Source):
    """The live probe's decoded events. With a spill area (the default: `SpillSettings`) a
    reader thread drains the rings into it and the batches are decoded from it, so a slow
    evaluation delays events instead of losing them (up to the spill's limit); without one
    (`spill=None` or a limit of 0) the consumer reads the ring itself (`probe_batches`)."""

    def __init__(
        self,
        state: SensorState,
        probe: Probe,
        done: Callable[[], bool],
        on_started: Callable[[], None] | None = None,
        *,
        spill: SpillSettings | None = None,
    ) -> None:
        from bastion.sensor.spill import SpillSettings

        super().__init__(state)
        self.probe = probe
        self._done = done
        self._on_started = on_started
        self._iter: Generator[list[Event], None, None] | None = None
        self.spill_settings = SpillSettings() if spill is None else spill
        self.spill: Spill | None = None

    def batches(self) -> Iterator[list[Event]]:
        self._iter = self._counted()
        return self._iter

    def _counted(self) -> Generator[list[Event], None, None]:
        inner = (
            self._spilled()
            if self.spill_settings.limit_bytes
            else probe_batches(
                self.probe, self._done, self.probe.read_events, self._on_started, self.statistics
            )
        )
        try:
            with event_loop_gc():  # the seeded state and the rules frozen: gc_policy.py
                yield from inner
        finally:
            inner.close()
            # which class lost what (events/schema.py's loss_class), ring and spill together
            from bastion.sensor.events.schema import BY_CODE

            if self.probe.started_once:
                lost = self.drops().by_code
                critical = sum(n for c, n in lost.items() if BY_CODE[c].loss_class == "critical")
                self.statistics["dropped_critical"] = critical
                for where, n in self.probe.filtered().items():  # the kernel filter's reasons
                    self.statistics[f"filtered {where}"] = n

    def _spilled(self) -> Generator[list[Event], None, None]:
        from bastion.sensor.latency_trace import LatencyTrace, Stages, clock_ns
        from bastion.sensor.spill import CHUNK_BYTES, Spill, SpillReader

        probe = self.probe
        spill = self.spill = Spill(self.spill_settings.limit_bytes)
        trace = LatencyTrace.from_env()
        reader = SpillReader(
            spill,
            read=probe.read_chunk,
            poll=probe.poll,
            detach=probe.detach,
            done=self._done,
            clock=None if trace is None else clock_ns,
            gather=probe.gather,
        )
        start_probe(probe)
        # the reader must get the interpreter back quickly when the ring fills: 1 ms turns
        # instead of CPython's 5 (the evaluation runs in the gaps either way)
        interval = sys.getswitchinterval()
        sys.setswitchinterval(min(interval, READER_SWITCH_S))
        try:
            if self._on_started is not None:
                self._on_started()
            reader.start()
            decode = probe.decoder.decode
            while (blocks := spill.take(0.1, CHUNK_BYTES)) is not None:
                if not blocks:
                    continue
                records = blocks[0].records()
                for block in blocks[1:]:
                    records += block.records()
                if trace is None:
                    yield decode(records)
                    continue
                handed = clock_ns()
                yield decode(records)  # back here once the pipeline is done
                done = clock_ns()
                for block in blocks:
                    newest = _TS.unpack_from(block.critical[-1])[0] if block.critical else 0
                    trace.add(Stages(newest, block.read_ns, handed, done))
            if reader.error is not None:
                raise reader.error
        finally:
            reader.stop()  # the consumer stopped early: detach and drain in the thread
            if trace is not None:
                trace.close()
            sys.setswitchinterval(interval)
            probe.stop()
            self.statistics.update(probe_statistics(probe))
            self.statistics["dropped_spill"] = spill.dropped
            self.statistics["spill_peak_bytes"] = spill.peak

    def close(self) -> None:
        if self._iter is not None:
            self._iter.close()

    def drops(self) -> DropTally:
        from bastion.sensor.drops import DropTally

        lost = self.probe.drops()
        by_code, by_cgroup = dict(lost.by_code), dict(lost.by_cgroup)
        places = {"ring": lost.total} if lost.total else {}
        spill = self.spill
        if spill is not None and spill.dropped:
            # copied first: the reader thread may be adding to them
            spilled = dict(spill.dropped_by_code)
            for code, n in spilled.items():
                by_code[code] = by_code.get(code, 0) + n
            for cgroup, n in dict(spill.dropped_by_cgroup).items():
                by_cgroup[cgroup] = by_cgroup.get(cgroup, 0) + n
            places["spill"] = sum(spilled.values())
        return DropTally(by_code, by_cgroup, places)


class BcapSource(Source):
    """A bastion capture: the live decoder on its records, the state from its snapshot."""

    def __init__(self, path: str, state: SensorState) -> None:
        from bastion.sensor.capture.bcap import BcapReader
        from bastion.sensor.probe.decode import Decoder

        self._reader = BcapReader(path)
        super().__init__(state)
        snapshot = self._reader.snapshot
        # a replay: /proc is not the capture's machine (or moment), unknown threads are bare
        state.live = False
        for container in snapshot.containers:
            state.containers.add(container)
        for thread in snapshot.threads:
            state.add_thread(thread)
        # the capture's boot epoch, so events carry the times they had live
        self._decoder = Decoder(boot_epoch=self._reader.header.boot_time_ns)

    def batches(self) -> Iterator[list[Event]]:
        from bastion.sensor.capture.bcap import BcapCorruptError

        decode = self._decoder.decode
        read = 0
        try:
            for records in self._reader.batches():
                read += len(records)
                try:
                    events = decode(records)
                except (struct.error, IndexError, ValueError, UnicodeError) as exc:
                    # a record whose lengths lie can trip a reader: it is damage, said as such
                    raise BcapCorruptError(
                        f"a record after record {read - len(records)} does not decode ({exc})",
                        where=self._reader.path,
                        hint="the capture is damaged or was written by another probe build",
                    ) from None
                yield events
        finally:
            trailer = self._reader.trailer
            self.statistics = {"records read": read}
            if trailer is not None:
                self.statistics.update(trailer.statistics)

    def close(self) -> None:
        self._reader.close()


class ScapSource(Source):
    """A Falco/sysdig capture: the scap decoder; the state from its process and fd lists."""

    def __init__(self, path: str, state: SensorState) -> None:
        from bastion.sensor.capture import (
            FdList,
            NotScapError,
            ProcessList,
            RawEvent,
            UserList,
            open_scap,
        )

        threads: list[Any] = []
        fds: list[Any] = []
        users: list[Any] = []
        groups: list[Any] = []
        try:
            self._scap = open_scap(path)
            for block in self._scap.blocks():  # libscap reads these lists before any event
                if isinstance(block, RawEvent):
                    break
                if isinstance(block, ProcessList):
                    threads.extend(block.threads)
                elif isinstance(block, FdList):
                    fds.extend(block.fds)
                elif isinstance(block, UserList):
                    users.extend(block.users)
                    groups.extend(block.groups)
        except NotScapError as exc:  # a damaged capture is reported as corrupt, at its byte
            raise UnknownCaptureError(
                f"neither a bastion capture nor a readable .scap file ({exc.message})",
                where=exc.where or path,
                hint="read files written by `bastion capture -w`, `sysdig -w` or Falco",
            ) from None
        except OSError as exc:
            raise UnknownCaptureError(f"cannot open: {exc.strerror}", where=path) from None
        super().__init__(state)
        state.seed_from_scap(threads, fds, users, groups)

    def batches(self) -> Iterator[list[Event]]:
        from bastion.sensor.capture import ScapFormatError
        from bastion.sensor.capture.scap_decode import iter_events

        batch: list[Event] = []
        count = 0
        try:
            for event in iter_events(self._scap):
                batch.append(event)
                count += 1
                if len(batch) == BATCH:
                    yield batch
                    batch = []
        except ScapFormatError:  # damage: the events before it are replayed, then it is raised
            self.statistics = {"events in the file": count}
            if batch:
                yield batch
            raise
        if batch:
            yield batch
        self.statistics = {"events in the file": count}


def open_recording(path: str, state: SensorState) -> Source:
    """A .bcap or .scap file as a source, recognised by its first bytes."""
    from bastion.sensor.capture.bcap import is_bcap

    if is_bcap(path):
        return BcapSource(path, state)
    return ScapSource(path, state)
