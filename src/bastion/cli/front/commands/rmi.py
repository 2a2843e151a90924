"""`bastion rmi IMAGE...`: remove images (refused while a container uses one, unless -f)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "remove images"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--force", action="store_true", help="even if a container uses it")
    parser.add_argument("images", nargs="+", metavar="IMAGE")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine

    with open_engine(args) as engine:
        for image in args.images:
            for name in engine.remove_image(image, force=args.force):
                sys.stdout.write(f"Untagged: {name}\n")
    return 0
