"""`bastion restart [-t SECONDS] CONTAINER...`: stop (if running) then start, as `docker
restart`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "restart containers"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-t", "--time", type=float, default=10, help="seconds before SIGKILL")
    parser.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine

    with open_engine(args) as engine:
        for name in args.containers:
            engine.restart(name, timeout=args.time)
            sys.stdout.write(f"{name}\n")
    return 0
