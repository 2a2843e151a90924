"""`bastion rm [-f] [-v] CONTAINER...`: remove containers (running ones only with -f; with -v
their anonymous volumes too)."""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

HELP = "remove containers"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--force", action="store_true", help="kill a running one first")
    parser.add_argument("-v", "--volumes", action="store_true", help="and its anonymous volumes")
    parser.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine

    with open_engine(args) as engine:
        for name in args.containers:
            engine.remove(name, force=args.force, volumes=args.volumes)
            sys.stdout.write(f"{name}\n")
    return 0
