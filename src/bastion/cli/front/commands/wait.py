"""`bastion wait CONTAINER...`: block until each ends; print its exit status."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "wait for containers to end and print their exit statuses"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine

    with open_engine(args) as engine:
        for name in args.containers:
            sys.stdout.write(f"{engine.wait(name)}\n")
    return 0
