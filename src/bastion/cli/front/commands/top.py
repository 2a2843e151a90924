"""`bastion top CONTAINER [ps OPTIONS]`: the container's processes, as the host's `ps` shows
them (default `-ef`), keeping only the rows of the pids in its cgroup (as `docker top`)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "show a container's processes"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("container")
    parser.add_argument("ps_options", nargs="...", metavar="PS OPTIONS")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine
    from bastion.engine.process_table import ps_table

    with open_engine(args) as engine:
        pids = engine.top(args.container)
    titles, rows = ps_table(pids, args.ps_options)
    if titles:
        # ps's own alignment is lost once rows are cut into fields: align again
        widths = [max(len(r[i]) for r in [titles, *rows]) for i in range(len(titles) - 1)]
        for row in [titles, *rows]:
            cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=False)]
            sys.stdout.write(" ".join([*cells, *row[len(widths) :]]).rstrip() + "\n")
    return 0
