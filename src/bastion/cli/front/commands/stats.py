"""`bastion stats [--no-stream] [--format json] [-a] [CONTAINER...]`: CPU %, memory usage and
limit, pids of running containers, from their cgroups (Docker's columns; the memory without the
inactive page cache, as Docker's CLI shows it)."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from bastion.engine import Engine
    from bastion.engine.operations import ContainerStats

HELP = "show running containers' CPU, memory and pids"

#: The time between the two samples a CPU % is computed from.
INTERVAL = 0.5


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-stream", action="store_true", help="one report, then exit")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--no-trunc", action="store_true", help="full ids")
    parser.add_argument("containers", nargs="*", metavar="CONTAINER")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine

    with open_engine(args) as engine:
        before = _sample(engine, args.containers)
        while True:
            time.sleep(INTERVAL)
            after = _sample(engine, args.containers)
            _report(args, {k: before.get(k, v) for k, v in after.items()}, after)
            if args.no_stream:
                return 0
            before = {**before, **after}


def _sample(engine: Engine, named: list[str]) -> dict[str, ContainerStats]:
    """A sample of each named container (an error if one is not running), or of every running
    one (one that ends meanwhile is left out, one that starts comes in)."""
    from bastion.engine import ContainerStateError

    if named:
        return {name: engine.stats(name) for name in named}
    out = {}
    for record in engine.containers():
        try:
            out[record.id] = engine.stats(record.id)
        except ContainerStateError:
            continue
    return out


def _report(
    args: argparse.Namespace,
    before: dict[str, ContainerStats],
    after: dict[str, ContainerStats],
) -> None:
    from bastion.cli.front.engine_args import binary_size, human_size
    from bastion.engine.operations import cpu_percent, host_memory

    docs = []
    for name, now in after.items():
        limit = now.memory_limit or host_memory()
        percent = cpu_percent(before[name], now)
        (received, sent), (read, written) = now.network_totals, now.block_totals
        docs.append(
            {
                "ID": now.id if args.no_trunc else now.id[:12],
                "Name": now.name,
                "CPUPerc": f"{percent:.2f}%",
                "MemUsage": f"{binary_size(now.memory_used)} / {binary_size(limit)}",
                "MemPerc": f"{(now.memory_used / limit * 100 if limit else 0):.2f}%",
                "NetIO": f"{human_size(received)} / {human_size(sent)}",
                "BlockIO": f"{human_size(read)} / {human_size(written)}",
                "PIDs": str(now.pids),
                "CPUPercent": percent,
                "MemoryUsage": now.memory_used,
                "MemoryLimit": limit,
                "PidsCurrent": now.pids,
                "PidsLimit": now.pids_limit,
                "NetworkRx": received,
                "NetworkTx": sent,
                "BlockRead": read,
                "BlockWrite": written,
            }
        )
    if args.format == "json":
        for doc in docs:
            sys.stdout.write(json.dumps(doc) + "\n")
        sys.stdout.flush()
        return
    if sys.stdout.isatty() and not args.no_stream:
        sys.stdout.write("\x1b[2J\x1b[H")  # redraw in place, as docker stats
    columns: tuple[str, ...] = ("CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %")
    columns += ("NET I/O", "BLOCK I/O", "PIDS")
    keys = ("ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs")
    rows = [columns, *[tuple(str(d[k]) for k in keys) for d in docs]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    for row in rows:
        sys.stdout.write(
            "   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n"
        )
    sys.stdout.flush()
