"""`bastion logout REGISTRY`: forget the credentials `login` kept for a registry."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "log out of a registry"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("registry", metavar="REGISTRY", help="host[:port]")


def run(args: argparse.Namespace) -> int:
    from bastion.engine import Engine

    Engine.logout(args.registry)
    sys.stdout.write(f"Removed login credentials for {args.registry}\n")
    return 0
