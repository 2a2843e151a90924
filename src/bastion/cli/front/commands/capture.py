"""`bastion capture -w FILE`: record the live probe's events into a bastion capture (.bcap).

The steps: resolve `--container` ids to their cgroup ids (identity.json, written by the runtime
before the container's first exec), seed the state tables from /proc for the snapshot, start
the probe with the in-kernel filters, then copy `read_raw()` batches into the file until the
duration ends or SIGINT/SIGTERM arrives; the last batches are drained before the trailer, and
the probe's counters (what it produced, dropped, skipped) go into the trailer and to stderr.
`bastion events` shares `resolve_containers`, `parse_events`, `Stopper` and `print_statistics`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import signal
import sys
import time
from collections.abc import Iterable
from typing import Any

from bastion.errors import BastionError, ExitCode

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.sensor.capture.bcap import Snapshot
    from bastion.sensor.probe import Probe

HELP = "record live events into a bastion capture file (read it with `bastion events -r`)"


class ContainerNotFoundError(BastionError):
    """Raised when `--container ID` names no container in the runtime root (or has no cgroup2
    id the probe could filter on)."""

    reference = "container-not-found"
    exit_code = ExitCode.NOT_FOUND


class UnknownEventError(BastionError):
    """Raised when `--events` names an event bastion's probe does not produce."""

    reference = "unknown-event"
    exit_code = ExitCode.USAGE


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-w", "--write", metavar="FILE", required=True, help="capture file")
    add_live_options(parser)
    parser.add_argument("--gzip", action="store_true", help="compress (default: if FILE ends .gz)")


def add_live_options(parser: argparse.ArgumentParser) -> None:
    """The options of a live capture, shared with `bastion events`."""
    parser.add_argument(
        "--container", action="append", default=[], metavar="ID", help="only this container"
    )
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    parser.add_argument("--events", metavar="LIST", help="comma-separated event names")
    parser.add_argument("--drop-failed", action="store_true", help="skip failed syscalls")
    parser.add_argument("--ring-size", type=int, default=8 << 20, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    from bastion.sensor.capture.bcap import BcapHeader, BcapWriter
    from bastion.sensor.sources import probe_batches

    live = live_filter(args)
    snapshot = take_snapshot(args.root)
    probe = open_probe(args, live)
    stats: dict[str, Any] = {}
    writer: BcapWriter | None = None

    def started() -> None:
        nonlocal writer
        header = BcapHeader.now(
            # the decoder's own boot epoch, so a replay stamps events exactly as live did
            boot_time_ns=probe.decoder.boot_epoch_ns,
            events=tuple(live.events or ()),
            cgroup_ids=None if live.cgroup_ids is None else tuple(live.cgroup_ids),
            containers=tuple(i.id for i in live.identities),
            drop_failed=args.drop_failed,
            ring_size=args.ring_size,
        )
        writer = BcapWriter(args.write, header, snapshot, compress=True if args.gzip else None)
        sys.stderr.write(f"bastion: capturing to {args.write} (SIGINT or SIGTERM stops)\n")
        sys.stderr.flush()  # a caller waits for this line before starting its workload

    with Stopper(args.duration) as stop:
        batches = probe_batches(probe, stop.done, probe.read_raw, started, stats)
        try:
            with contextlib.closing(batches):
                for batch in batches:
                    assert writer is not None  # made by `started` before the first batch
                    writer.write_batch(batch)
        finally:
            if writer is not None:
                writer.close(stats)  # an error mid-capture still leaves a readable file
    assert writer is not None
    print_statistics({"events written": writer.records, **stats})
    return 0


@dataclasses.dataclass(frozen=True)
class LiveFilter:
    """What a live run asks the probe for: event names (None: the table's defaults) and the
    containers whose cgroups alone it watches (None: everything)."""

    events: list[str] | None
    identities: list[Any]
    cgroup_ids: list[int] | None


def live_filter(args: argparse.Namespace) -> LiveFilter:
    """`--events` and `--container` checked and resolved (cgroup ids from identity.json)."""
    identities = resolve_containers(args.root, args.container)
    cgroup_ids = [cg for ident in identities for cg in ident.cgroup_ids] if identities else None
    return LiveFilter(parse_events(args.events), identities, cgroup_ids)


def parse_events(text: str | None) -> list[str] | None:
    """`--events openat,close` -> names checked against the event table; None = defaults."""
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


def resolve_containers(root: str, ids: Iterable[str]) -> list[Any]:
    """Each `--container` id (or unique prefix) -> its `ContainerIdentity` from identity.json."""
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


def open_probe(args: argparse.Namespace, live: LiveFilter) -> Probe:
    from bastion.sensor.probe import Probe

    return Probe(
        ring_size=args.ring_size,
        events=live.events,
        cgroup_ids=live.cgroup_ids,
        drop_failed=args.drop_failed,
    )


_LABELS = (
    ("produced", "produced by the probe"),
    ("dropped_ring_full", "dropped (ring buffer full)"),
    ("skipped_syscall", "skipped by the event filter"),
    ("skipped_cgroup", "skipped by the container filter"),
    ("skipped_failed", "skipped (failed syscalls)"),
    ("read", "read from the ring"),
)


def print_statistics(stats: dict[str, Any]) -> None:
    """The end-of-run report, on stderr so stdout stays pure events."""
    labels = dict(_LABELS)
    rows = [
        (labels.get(k, k.replace("_", " ")), v) for k, v in stats.items() if k != "load_seconds"
    ]
    width = max((len(k) for k, _ in rows), default=0)
    out = "".join(f"  {k:<{width}}  {v}\n" for k, v in rows)
    sys.stderr.write(f"statistics:\n{out}")
    if stats.get("dropped_ring_full"):
        sys.stderr.write(
            f"warning: {stats['dropped_ring_full']} events were lost (ring buffer full); "
            "capture fewer events (--events) or fewer containers\n"
        )


class Stopper:
    """Ends a capture on a deadline, SIGINT or SIGTERM: the handlers set a flag (no exception
    mid-write), and the previous handlers come back on exit. Enter it before starting the
    probe, so a signal during the load is not lost (or ignored, in a shell's background job)."""

    def __init__(self, duration: float | None) -> None:
        self._duration = duration
        self._deadline: float | None = None
        self._stopped = False
        self._saved: dict[int, Any] = {}

    def _on_signal(self, signum: int, frame: object) -> None:
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
