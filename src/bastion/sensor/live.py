"""Live capture as a library: what a live run asks the probe for, how it stops, what it reports.

`bastion capture`, `bastion events` and `bastion watch` (and, to come, the engine) share it:
`live_filter` checks the event names and resolves container ids to the cgroup ids the probe
filters on in the kernel (from identity.json, written by the runtime before the container's
first exec); `open_probe` builds the probe for it; a `Stopper` ends the run on a deadline,
SIGINT or SIGTERM; `record` copies the probe's raw batches into a bastion capture (.bcap);
`statistics` turns a run's counters into labelled data for a front end to show. Nothing here
prints: the counters of a run come back to the caller.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from bastion.errors import BastionError, ExitCode

if TYPE_CHECKING:
    from types import FrameType

    from bastion.identity import ContainerIdentity
    from bastion.sensor.capture.bcap import Snapshot
    from bastion.sensor.probe import KillPlan, OpenFilter, Probe

#: The probe's ring buffer size unless asked otherwise (bytes). 64 MiB: a C loop of open+close
#: makes about 65 MB of records a second, and the reader thread shares the interpreter (and, on
#: a busy host, the CPU) with the evaluation; 8 MiB lost 10% of such a flood on a loaded
#: 2-CPU VM, 32 and 64 MiB nothing.
DEFAULT_RING_SIZE = 64 << 20


class ContainerNotFoundError(BastionError):
    """Raised when `--container ID` names no container in the runtime root (or has no cgroup2
    id the probe could filter on)."""

    reference = "container-not-found"
    exit_code = ExitCode.NOT_FOUND


class UnknownEventError(BastionError):
    """Raised when `--events` names an event bastion's probe does not produce."""

    reference = "unknown-event"
    exit_code = ExitCode.USAGE


@dataclasses.dataclass(frozen=True)
class LiveFilter:
    """What a live run asks the probe for: event names (None: the table's defaults), the
    containers whose cgroups alone it watches (None: everything), whether failed syscalls are
    dropped in the kernel, the ring buffer's size, the open filter derived from the rules
    (`bastion.sensor.kernel_filter`; None: every open is sent) and the in-kernel kill
    (`bastion.sensor.kernel_kill`; None: kills only from user space)."""

    events: list[str] | None
    identities: list[ContainerIdentity]
    cgroup_ids: list[int] | None
    drop_failed: bool = False
    ring_size: int = DEFAULT_RING_SIZE
    open_filter: OpenFilter | None = None
    kill_plan: KillPlan | None = None


def live_filter(
    root: str,
    containers: Iterable[str] = (),
    events: str | None = None,
    *,
    drop_failed: bool = False,
    ring_size: int = DEFAULT_RING_SIZE,
) -> LiveFilter:
    """`events` ("openat,close") and `containers` (ids or unique prefixes under the runtime
    `root`) checked and resolved (cgroup ids from identity.json)."""
    identities = resolve_containers(root, containers)
    cgroup_ids = [cg for ident in identities for cg in ident.cgroup_ids] if identities else None
    return LiveFilter(parse_events(events), identities, cgroup_ids, drop_failed, ring_size)


def parse_events(text: str | None) -> list[str] | None:
    """`openat,close` -> names checked against the event table; None = defaults."""
    if text is None:
        return None
    from bastion.sensor.events.schema import BY_NAME

    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown or not names:
        raise UnknownEventError(
            f"unknown event {', '.join(unknown)}" if unknown else "no event named",
            where="--events",
            hint=f"known events: {', '.join(sorted(BY_NAME))}",
        )
    return names


def resolve_containers(root: str, ids: Iterable[str]) -> list[ContainerIdentity]:
    """Each container id (or unique prefix) -> its `ContainerIdentity` from identity.json."""
    from bastion import jsonio
    from bastion.identity import IDENTITY_FILE, ContainerIdentity

    found = []
    for wanted in ids:
        try:
            names = sorted(n for n in os.listdir(root) if n.startswith(wanted))
        except OSError:
            names = []
        match = [wanted] if wanted in names else names
        if len(match) != 1:
            raise ContainerNotFoundError(
                f"no container {wanted!r}" if not match else f"{wanted!r} is ambiguous: {match}",
                where=os.path.join(root, wanted),
                hint="give an id from `bastion-runc --root ROOT list` (`bastion --root` sets ROOT)",
            )
        path = os.path.join(root, match[0], IDENTITY_FILE)
        try:
            with open(path, "rb") as f:
                ident = ContainerIdentity.from_dict(jsonio.loads(f.read()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ContainerNotFoundError(
                f"cannot read the container's identity: {exc}",
                where=path,
                hint="the container was made by another runtime or is being deleted",
            ) from None
        if not ident.cgroup_ids:
            raise ContainerNotFoundError(
                "the container has no cgroup2 id to filter on", where=path, hint="recreate it"
            )
        found.append(ident)
    return found


def take_snapshot(root: str) -> Snapshot:
    """The state tables seeded from /proc (threads with fds, containers) as a bcap snapshot."""
    from bastion.sensor.assemble import new_state
    from bastion.sensor.capture.bcap import Snapshot

    state = new_state(root, seed=True)
    return Snapshot(threads=list(state.threads), containers=list(state.containers))


def open_probe(live: LiveFilter) -> Probe:
    """The probe `live` asks for (built, not yet loaded: the run loop starts it)."""
    from bastion.sensor.probe import Probe

    return Probe(
        ring_size=live.ring_size,
        events=live.events,
        cgroup_ids=live.cgroup_ids,
        drop_failed=live.drop_failed,
        open_filter=live.open_filter,
        kill_plan=live.kill_plan,
    )


def record(
    path: str,
    probe: Probe,
    live: LiveFilter,
    snapshot: Snapshot,
    done: Callable[[], bool],
    *,
    compress: bool | None = None,
    started: Callable[[], None] | None = None,
) -> dict[str, int | float]:
    """Copy `probe`'s raw batches into the bcap file `path` until `done()`; return the run's
    counters ("events written" first, then the probe's). The file is made once the probe is
    attached (then `started()` is called: a caller may wait for it to start its workload), and
    closed with the counters in its trailer, also when the run fails midway, so it stays
    readable. `compress`: gzip (None: if `path` ends with .gz)."""
    from bastion.sensor.capture.bcap import BcapHeader, BcapWriter
    from bastion.sensor.sources import probe_batches

    stats: dict[str, int | float] = {}
    writer: BcapWriter | None = None

    def attached() -> None:
        nonlocal writer
        header = BcapHeader.now(
            # the decoder's own boot epoch, so a replay stamps events exactly as live did
            boot_time_ns=probe.decoder.boot_epoch_ns,
            events=tuple(live.events or ()),
            cgroup_ids=None if live.cgroup_ids is None else tuple(live.cgroup_ids),
            containers=tuple(i.id for i in live.identities),
            drop_failed=live.drop_failed,
            ring_size=live.ring_size,
        )
        writer = BcapWriter(path, header, snapshot, compress=compress)
        if started is not None:
            started()

    batches = probe_batches(probe, done, probe.read_raw, attached, stats)
    try:
        with contextlib.closing(batches):
            for batch in batches:
                assert writer is not None  # made by `attached` before the first batch
                writer.write_batch(batch)
    finally:
        if writer is not None:
            writer.close(stats)  # an error mid-capture still leaves a readable file
    assert writer is not None
    return {"events written": writer.records, **stats}


class Stopper:
    """Ends a capture on a deadline, SIGINT or SIGTERM: the handlers set a flag (no exception
    mid-write), and the previous handlers come back on exit. Enter it before starting the
    probe, so a signal during the load is not lost (or ignored, in a shell's background job)."""

    def __init__(self, duration: float | None) -> None:
        self._duration = duration
        self._deadline: float | None = None
        self._stopped = False
        self._saved: dict[int, signal._HANDLER] = {}

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stopped = True

    def done(self) -> bool:
        """True once stopped; the duration counts from the first call (the probe is attached
        by then: loading it must not eat into the capture)."""
        if self._duration is not None:
            now = time.monotonic()
            if self._deadline is None:
                self._deadline = now + self._duration
            if now >= self._deadline:
                return True
        return self._stopped

    def __enter__(self) -> Stopper:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._saved[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)


# --- the end-of-run report, as data ---------------------------------------------------------

_LABELS = {
    "produced": "produced by the probe",
    "dropped_ring_full": "dropped (ring buffer full)",
    "skipped_syscall": "skipped by the event filter",
    "skipped_cgroup": "skipped by the container filter",
    "skipped_failed": "skipped (failed syscalls)",
    "read": "read from the ring",
    "filtered": "kept back by the kernel filter (events no rule can match)",
    "dropped_spill": "dropped (spill area full)",
    "dropped_critical": "of the dropped: critical class",
    "spill_peak_bytes": "spill area peak (bytes)",
}


@dataclasses.dataclass(frozen=True)
class Counter:
    """One line of a run's report: the counter's key, what it means, its value."""

    key: str
    label: str
    value: int | float


@dataclasses.dataclass(frozen=True)
class Statistics:
    """A live or replayed run's counters, in the order they came, with the events the probe
    lost because its ring buffer was full (a run that lost events must say so)."""

    counters: tuple[Counter, ...]
    lost: int


def statistics(counters: Mapping[str, int | float]) -> Statistics:
    """The report of a run's `counters` (a source's `statistics` plus the caller's own, such as
    "events shown"); the probe's load time is left out (it is not a count of events)."""
    rows = tuple(
        Counter(key, _LABELS.get(key, key.replace("_", " ")), value)
        for key, value in counters.items()
        if key != "load_seconds"
    )
    lost = counters.get("dropped_ring_full", 0) + counters.get("dropped_spill", 0)
    return Statistics(rows, int(lost))
