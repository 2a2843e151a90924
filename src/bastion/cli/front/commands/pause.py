"""`bastion pause CONTAINER...`: freeze every process of running containers (the cgroup
freezer, as `docker pause`)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "pause every process of containers"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine

    with open_engine(args) as engine:
        for name in args.containers:
            engine.pause(name)
            sys.stdout.write(f"{name}\n")
    return 0
