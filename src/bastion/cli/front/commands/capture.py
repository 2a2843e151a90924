"""`bastion capture -w FILE`: record the live probe's events into a bastion capture (.bcap).

The steps (`bastion.sensor.live`): resolve `--container` ids to their cgroup ids, seed the
state tables from /proc for the snapshot, start the probe with the in-kernel filters, then copy
its batches into the file until the duration ends or SIGINT/SIGTERM arrives; the last batches
are drained before the trailer, and the probe's counters (what it produced, dropped, skipped) go
into the trailer and to stderr. `bastion events` and `bastion watch` share the live options.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from bastion.sensor.live import DEFAULT_RING_SIZE

if TYPE_CHECKING:
    from bastion.sensor.live import LiveFilter

HELP = "record live events into a bastion capture file (read it with `bastion events -r`)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-w", "--write", metavar="FILE", required=True, help="capture file")
    add_live_options(parser)
    parser.add_argument("--gzip", action="store_true", help="compress (default: if FILE ends .gz)")


def add_live_options(parser: argparse.ArgumentParser) -> None:
    """The options of a live capture, shared with `bastion events` and `bastion watch`."""
    parser.add_argument(
        "--container", action="append", default=[], metavar="ID", help="only this container"
    )
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    parser.add_argument("--events", metavar="LIST", help="comma-separated event names")
    parser.add_argument("--drop-failed", action="store_true", help="skip failed syscalls")
    parser.add_argument("--ring-size", type=int, default=DEFAULT_RING_SIZE, help=argparse.SUPPRESS)


def live_from_args(args: argparse.Namespace) -> LiveFilter:
    """The live options of `add_live_options`, checked and resolved."""
    from bastion.sensor.live import live_filter

    return live_filter(
        args.root,
        args.container,
        args.events,
        drop_failed=args.drop_failed,
        ring_size=args.ring_size,
    )


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.report import write_statistics
    from bastion.sensor.live import Stopper, open_probe, record, statistics, take_snapshot

    live = live_from_args(args)
    snapshot = take_snapshot(args.root)
    probe = open_probe(live)

    def started() -> None:
        sys.stderr.write(f"bastion: capturing to {args.write} (SIGINT or SIGTERM stops)\n")
        sys.stderr.flush()  # a caller waits for this line before starting its workload

    with Stopper(args.duration) as stop:
        counters = record(
            args.write,
            probe,
            live,
            snapshot,
            stop.done,
            compress=True if args.gzip else None,
            started=started,
        )
    write_statistics(statistics(counters))
    return 0
