"""`bastion kill [-s SIGNAL] CONTAINER...`: send a signal (default SIGKILL)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "send a signal to running containers"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-s", "--signal", default="KILL", help="name or number (default KILL)")
    parser.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine
    from bastion.engine.engine import signal_number

    sig = signal_number(args.signal)
    with open_engine(args) as engine:
        for name in args.containers:
            engine.kill(name, sig)
            sys.stdout.write(f"{name}\n")
    return 0
